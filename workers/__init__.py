"""closetflow workers package."""

"""closetflow allocation package."""

"""closetflow api package."""

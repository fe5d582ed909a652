"""closetflow solvers package."""

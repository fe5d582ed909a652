"""closetflow forecasting package."""

"""The world generator: scales, the calibrated world and its history, and the calibration figures."""

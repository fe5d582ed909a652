"""The decision model: the planner's snapshot, constraint families, the array-built LP and its decoding."""

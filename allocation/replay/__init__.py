"""The day-by-day replay against a schedule, the policies it plays, and holdout validation."""

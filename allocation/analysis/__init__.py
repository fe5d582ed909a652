"""Reading a plan: why each reservation is (not) filled (explain) and what a change would do (whatif)."""

"""One router module per resource; each route parses, calls one service or query function, returns."""

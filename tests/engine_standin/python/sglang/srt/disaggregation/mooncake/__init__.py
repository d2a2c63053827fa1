"""Stand-in package marker (the harness puts its own package module in its place)."""

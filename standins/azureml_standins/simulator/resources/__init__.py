"""One module per simulated resource type, each a `Kind` with that type's rules."""

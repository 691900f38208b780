"""AWS constructs for serving fleets, each with secure defaults. Importing any of them loads the
AWS provider binding (seconds): import them only where a stack is built."""

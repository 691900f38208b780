"""What every layer may import: the shared errors and the registry of targets."""

"""Azure constructs for serving fleets and Azure ML workspaces, each with secure defaults.
Importing any of them loads the azurerm provider binding (seconds): import them only where a
stack is built."""

"""Azure alone: how `infra bench` calls an Azure ML endpoint (dotted path in providers/azure)."""

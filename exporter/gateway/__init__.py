"""The AI Gateway REST API: an async client, its errors, parsed models and key sources."""

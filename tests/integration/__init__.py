"""Integration tests: the real model, chromadb on disk or as a server, SQLite and PostgreSQL, servers and the CLI."""

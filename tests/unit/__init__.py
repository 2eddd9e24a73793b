"""Unit tests: the pure stages, in process, without the embedding model (a deterministic fake stands in)."""

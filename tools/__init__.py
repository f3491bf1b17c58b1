"""Generators of the project's documentation: each writes a part of a document from the code
or chart it describes (``python -m tools.<module> --write``); the tests check the documents are
not stale."""

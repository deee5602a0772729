"""Writes of the collection domain. One entry point per use case, keyword-only arguments."""

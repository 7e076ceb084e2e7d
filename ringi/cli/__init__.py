"""The `ringi` command."""

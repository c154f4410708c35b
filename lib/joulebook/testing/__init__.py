"""joulebook.testing layer."""

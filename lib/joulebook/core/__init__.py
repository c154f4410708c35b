"""joulebook.core layer."""

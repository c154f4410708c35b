"""joulebook.sweeps layer."""

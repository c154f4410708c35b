"""joulebook.models.presets layer."""

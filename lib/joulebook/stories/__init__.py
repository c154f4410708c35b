"""Stories: one module per report, holding its parameters, computed frames, findings and metrics.

A story imports models, data and display; notebooks call it and show what it returns.
"""

"""Batch-run the parameterized notebooks and publish them as an HTML site.

``build()`` runs the report set declared in ``notebooks/reports.toml`` with
papermill (processes, never threads), renders each executed notebook to a
code-free HTML page (nbconvert), and writes ``index.html`` and
``manifest.json``; ``execute_notebook()`` runs one notebook the same way (the
test-suite uses it to run every notebook with tiny parameters).

Importing this package loads neither papermill nor nbconvert.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build", "BuildResult", "ReportOutcome", "execute_notebook", "ExecutionResult", "UnknownParameterError",
           "load_config", "select", "validate_metrics", "notebook_parameters", "render_html"]

_WHERE = {
    "build": "runner", "BuildResult": "runner", "ReportOutcome": "runner",
    "execute_notebook": "execute", "ExecutionResult": "execute", "UnknownParameterError": "execute",
    "validate_metrics": "execute", "notebook_parameters": "execute",
    "load_config": "config", "select": "config",
    "render_html": "render",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        mod = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

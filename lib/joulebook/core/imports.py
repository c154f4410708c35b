"""Import-time costs of third-party packages that joulebook can avoid.

``nbformat`` (hence papermill and nbconvert) imports ``jsonschema``, whose format checkers import the
optional ``rfc3987_syntax`` package when it is installed (jupyter-events pulls it in). That package
compiles a lark grammar at import: about 3 s of CPU in every process that reads a notebook, which
is most of a report worker's start-up. Notebook validation never checks the "iri" format that
grammar serves, so joulebook's own entry points (the report runner and its workers, notebook
execution and rendering, the CLI) block it before importing nbformat: jsonschema then simply has
no "iri" checker in that process. ``JOULEBOOK_KEEP_RFC3987=1`` leaves it alone.
"""

from __future__ import annotations

import os
import sys

SLOW_OPTIONAL = ("rfc3987_syntax",)
KEEP_ENV = "JOULEBOOK_KEEP_RFC3987"


def skip_slow_optional_imports() -> None:
    """Make ``import rfc3987_syntax`` fail fast in this process (unless already imported or ``$JOULEBOOK_KEEP_RFC3987``)."""
    if os.environ.get(KEEP_ENV):
        return
    for name in SLOW_OPTIONAL:
        sys.modules.setdefault(name, None)  # a None entry makes `import name` raise ImportError at once

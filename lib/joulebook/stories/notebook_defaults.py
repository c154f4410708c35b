"""The defaults of a report notebook, read from its parameters cell (the one place they live).

A story's ``metrics_for(parameters)`` (reports.toml ``metrics_function``) is called with the
overrides of a run only; the values it does not name are the notebook's own, read here with
:func:`ast.literal_eval` (the parameters cell holds literals only; papermill reads the same cell).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from joulebook.core.errors import InputError

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"


def defaults(notebook: str, folder: str | Path | None = None) -> dict[str, Any]:
    """``name -> value`` of the notebook's cell tagged ``parameters`` (literals only)."""
    path = Path(folder or NOTEBOOKS) / notebook
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError("notebook", f"cannot read {path}: {e.strerror}") from None
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise InputError("notebook", f"{path.name} needs exactly one cell tagged 'parameters', has {len(cells)}")
    src = cells[0]["source"]
    out: dict[str, Any] = {}
    for node in ast.parse(src if isinstance(src, str) else "".join(src)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def merged(notebook: str, parameters: dict[str, Any] | Any) -> dict[str, Any]:
    """The notebook's defaults overridden by ``parameters`` (unknown names are left for ``check`` to reject)."""
    return {**defaults(notebook), **dict(parameters)}

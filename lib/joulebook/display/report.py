"""Helpers used by the notebooks: prose, tables, provenance and metrics.

Notebooks stay thin: each code cell is one or two calls into the library.
Nothing here has side effects at import.
"""

from __future__ import annotations

import html as _html
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from joulebook import __version__, data
from joulebook.core import format as fmt
from joulebook.core.errors import JoulebookError
from joulebook.core.io import atomic_write_json, to_jsonable
from joulebook.display import tables

METRICS_ENV = "JOULEBOOK_METRICS_PATH"
COMMIT_ENV = "JOULEBOOK_GIT_COMMIT"


def one_line_errors() -> None:
    """In Jupyter: show joulebook's own errors (a bad parameter, an unknown region...) as one line,
    ``InputError: region: unknown region 'nowhere'; close matches: ...``, not a traceback wall.

    The cell still fails (the kernel reports an error, so papermill and the batch runner see it);
    only the display is shorter. Other exceptions keep their full traceback. Outside IPython this
    does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        stb = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, stb)  # the kernel's error message, with this one line as its traceback
        return stb

    shell.set_custom_exc((JoulebookError,), handler)


def md(text: str) -> None:
    """Display Markdown (prose written for the parameters in use)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


FINDING_MIME = "text/html"
FINDING_METADATA = {"joulebook": {"role": "finding"}}
"""Output metadata that marks a report's finding block (the site keeps it first and checks it is there)."""


def finding_html(headline: str, tiles: Iterable[tuple[str, str] | tuple[str, str, str]] = ()) -> str:
    """The finding block's HTML: the answer in one or two sentences, then key-figure tiles.

    ``headline`` is plain text (escaped; ``**bold**`` is kept as bold). Each tile is
    ``(label, value)`` or ``(label, value, note)``; values are already formatted text
    (:mod:`joulebook.core.format`), so the page shows what the prose says.
    """
    def esc(text: Any) -> str:
        out = _html.escape(str(text), quote=True)
        parts = out.split("**")
        return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts)) if len(parts) % 2 else out

    items = []
    for tile in tiles:
        label, value, *rest = tile
        note = f'<span class="jb-tile-note">{esc(rest[0])}</span>' if rest and rest[0] else ""
        items.append(f'<div class="jb-tile"><span class="jb-tile-label">{esc(label)}</span>'
                     f'<span class="jb-tile-value">{esc(value)}</span>{note}</div>')
    grid = f'<div class="jb-tiles">{"".join(items)}</div>' if items else ""
    return f'<section class="jb-finding"><p class="jb-headline">{esc(headline)}</p>{grid}</section>'


def finding(headline: str, tiles: Iterable[tuple[str, str] | tuple[str, str, str]] = ()) -> None:
    """Display the report's finding: call it once, in the first cell after the parameter check."""
    from IPython.display import HTML, display

    display(HTML(finding_html(headline, tiles)), metadata=FINDING_METADATA)


def table(df, *, formats: Mapping[str, str] | None = None, caption: str | None = None, index: bool = False) -> None:
    """Display a DataFrame as a compact HTML table (cells and caption are escaped).

    Numbers go through :func:`joulebook.core.format.number` (3 s.f.), a missing value is "—"
    (:data:`~joulebook.core.format.MISSING`), booleans are yes / no; ``formats`` (column -> a
    ``str.format`` pattern) is applied to the present values of a column. For reader tables with
    names and units in the headers, use :func:`joulebook.display.tables.table`.
    """
    from IPython.display import HTML, display

    html = table_html(df, formats=formats, caption=caption, index=index)
    display(HTML(html))


def table_html(df, *, formats: Mapping[str, str] | None = None, caption: str | None = None,
               index: bool = False) -> str:
    """The HTML :func:`table` displays."""
    df = df.copy()
    for col in df.columns:
        pattern = (formats or {}).get(col)
        if pattern is not None:
            df[col] = [fmt.MISSING if fmt.is_missing(v) else pattern.format(v) for v in df[col]]
        elif df[col].dtype.kind in "fiub":
            df[col] = [number(v) for v in df[col]]
        else:
            df[col] = [fmt.text(v) if fmt.is_missing(v) or isinstance(v, bool) else v for v in df[col]]
    html = df.to_html(index=index, border=0, classes="jb-table", escape=True, na_rep=fmt.MISSING)
    if caption:
        html = f"<p><b>{_html.escape(str(caption), quote=True)}</b></p>" + html
    return html


def number(v: Any, digits: int = fmt.DIGITS) -> str:
    """A readable number: :func:`joulebook.core.format.number` (text that is no number is shown as given)."""
    if isinstance(v, str) and not fmt.is_missing(v):
        return v
    return fmt.number(v, digits)


def git_head(where: str | os.PathLike | None = None) -> str:
    """``git rev-parse --short=12 HEAD`` in ``where`` (default: this package's checkout), or 'unknown'."""
    where = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_commit() -> str:
    """The commit of the working tree (from the batch runner, else git, else 'unknown')."""
    return os.environ.get(COMMIT_ENV) or git_head()


def provenance_line(commit: str | None = None) -> str:
    """The provenance block's first line (Markdown): library version, commit (default :func:`git_commit`) and
    data fingerprint, the facts that pin every number of the page."""
    return (f"**Provenance.** joulebook {__version__}, commit `{commit or git_commit()}`, data fingerprint "
            f"`{data.fingerprint()}`. Every number on this page comes from the library's models or a sourced data "
            "row; the tables below list each input.")


def provenance(parameters: Mapping[str, Any], assumptions=None, source_ids: Iterable[str] = ()) -> None:
    """Show the provenance block: parameters, assumptions, data sources, versions."""
    md(provenance_line())
    params = pd.DataFrame({"parameter": list(parameters),
                           "value": [tables.parameter_text(k, v) for k, v in parameters.items()]})
    table(params, caption="Parameters of this run")
    if assumptions is not None and len(assumptions):
        df = assumptions.to_frame()
        df["value"] = [tables.parameter_text(str(n), v) for n, v in zip(df["name"], df["value"], strict=True)]
        df["overridden"] = ["yes" if o else "no" for o in df["overridden"]]
        table(df, caption="Assumptions used (override any of them by name)")
    ids = sorted(set(source_ids))
    if ids:
        table(data.sources_for(ids), caption="Data sources")


def write_metrics(metrics: Mapping[str, Any], path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write the report's key figures (``metrics.json``) where the batch runner asked.

    Outside the runner (no ``JOULEBOOK_METRICS_PATH`` and no ``path``) nothing is
    written; the metrics are returned so an interactive session can look at them.
    """
    clean = to_jsonable(dict(metrics))
    target = path or os.environ.get(METRICS_ENV)
    if target:
        atomic_write_json(target, clean)
    return clean

"""Executed notebook -> one HTML page (nbconvert's "lab" cell markup, joulebook's own head and layout).

Code-free by default (``exclude_input=True``; not papermill's report mode), with
code when asked (``--with-code``) and always for a failed run, so its traceback
is readable. The page inlines no CSS: it links the site's stylesheet (``../site.css``,
written once per site), which styles prose, tables, code, outputs and errors; this keeps
a page to its content and figures (nbconvert's inline "lab" CSS alone was 262 KB a page).
Every value joulebook adds is escaped (autoescaped template blocks); Markdown outputs
render with raw HTML escaped, so a parameter or an error message holding markup shows as
text. Pages work offline: nothing loads require.js, MathJax, Mermaid or widget scripts
from a CDN; figures are inline PNGs. The page carries no build stamp or time, so the same
notebook gives the same bytes.

Layout: the report's finding block (``joulebook.display.report.finding``) is a cell
output like any other, so a notebook that shows it first gets it on the first screen.
Cells tagged ``provenance`` are folded into one ``<details class="jb-provenance">`` per
run of consecutive tagged cells (cells that show nothing in between do not break a run;
a cell with an error output is never folded). A "Re-run this report" box
(``rerun``: (label, command) pairs, see :func:`rerun_commands`) closes the page.
Figures get their ``alt`` text from the output's ``image/png`` metadata
(``display(fig, metadata={"image/png": {"alt": ...}})``, which
:func:`joulebook.display.figures.show` writes); an image without one gets an empty
``alt``, which the tests treat as a failure.
"""

from __future__ import annotations

import copy
import functools
import html
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from joulebook.core.imports import skip_slow_optional_imports
from joulebook.core.io import atomic_write_text

RENDER_VERSION = "3"  # bump when the page layout changes (invalidates reused pages)
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_PREFIX = "joulebook"
TEMPLATE_NAME = f"{TEMPLATE_PREFIX}/page.html.j2"
SITE_CSS = "site.css"  # the site's stylesheet, written once per site; every page links to it
PROVENANCE_TAG = "provenance"  # cells with this tag are folded into <details class="jb-provenance">
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"  # papermill's raw-HTML error markers (shown escaped, they are noise)
STOPPED_NOTE = "**The run stopped here:** the next cell raised the error shown under it."
FINDING_ROLE = "finding"  # output metadata {"joulebook": {"role": "finding"}} marks the finding block


def site_css() -> str:
    """The text of the site's stylesheet (``templates/site.css``)."""
    return (TEMPLATES / SITE_CSS).read_text(encoding="utf-8")


def templates_env(**filters: Any):
    """A jinja2 environment over joulebook's own templates, with autoescaping on for every file."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(filters)
    return env


def _safe_markdown_renderer():
    """nbconvert's Markdown renderer with raw HTML escaped and javascript:/vbscript: links refused.

    A report's prose is Markdown written from parameter values (a region name, a time zone, a file
    name, an error message); nbconvert passes raw HTML in Markdown through, so a value holding
    ``<script>`` would run in the reader's browser. Markdown syntax itself still renders.
    """
    skip_slow_optional_imports()
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class SafeRenderer(IPythonRenderer):
        def block_mermaidjs(self, code: str) -> str:  # nbconvert inserts a mermaid block's text unescaped
            return f'<div class="jp-Mermaid"><pre class="mermaid">\n{html.escape(code.strip())}\n</pre></div>'

    return SafeRenderer


@functools.cache
def _exporter(with_code: bool):
    """The HTML exporter (one per process and variant: building its template environment costs about
    0.4 s, and an exporter renders any number of notebooks)."""
    import jinja2
    skip_slow_optional_imports()
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer_cls = _safe_markdown_renderer()

    class SafeHTMLExporter(HTMLExporter):
        @jinja2.pass_context
        def markdown2html(self, context, source):
            renderer = renderer_cls(escape=True, allow_harmful_protocols=False, embed_images=self.embed_images,
                                    anchor_link_text=self.anchor_link_text,
                                    exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    loader = jinja2.PrefixLoader({TEMPLATE_PREFIX: jinja2.FileSystemLoader(str(TEMPLATES))})
    exporter = SafeHTMLExporter(template_name="lab", extra_loaders=[loader])
    exporter.template_file = TEMPLATE_NAME
    exporter.exclude_input = not with_code
    exporter.exclude_input_prompt = not with_code
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    exporter.theme = "light"
    return exporter


def warm_exporter(with_code: bool) -> None:
    """Build this process's exporter and load its templates now (processes forked from this one inherit them)."""
    _ = _exporter(with_code).template


def _tags(cell: Any) -> list[str]:
    tags = cell.get("metadata", {}).get("tags") or []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _shows_something(cell: Any, with_code: bool) -> bool:
    """Whether a cell puts anything on the page (markdown, code when shown, or an output)."""
    if cell.get("cell_type") != "code":
        return bool("".join(cell.get("source") or "").strip())
    return with_code or bool(cell.get("outputs"))


def _has_error(cell: Any) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs") or [])


def mark_folds(nb: Any, with_code: bool) -> None:
    """Mark runs of ``provenance``-tagged cells for folding (cell metadata ``jb_fold``: open / close / open close).

    Cells that show nothing between two tagged cells do not break a run; a cell holding an
    error output is never folded (a failed page keeps its traceback in sight).
    """
    run: list[Any] = []

    def close() -> None:
        if run:
            run[0].metadata["jb_fold"] = "open"
            run[-1].metadata["jb_fold"] = (run[-1].metadata.get("jb_fold", "") + " close").strip()
            run.clear()

    for cell in nb.cells:
        cell.metadata.pop("jb_fold", None)
        if PROVENANCE_TAG in _tags(cell) and not _has_error(cell):
            run.append(cell)
        elif _shows_something(cell, with_code):
            close()
    close()


# a bare <td> whose whole text is a number ("1,230", "-4.5", "12 %", "3.2e+05", "2×"): right-aligned by site.css
_NUMERIC_TD = re.compile(r"<td>(\s*[-+\u2212]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?\s*[%\u00d7x]?\s*)</td>")


def mark_numeric_cells(nb: Any) -> None:
    """Add ``class="n"`` to plain table cells holding only a number in HTML outputs (pandas ``to_html`` tables).

    Tables from :mod:`joulebook.display.tables` mark their numeric cells themselves; this lines up
    the numbers of any other HTML table the same way. Only the class attribute is added.
    """
    for cell in nb.cells:
        for out in cell.get("outputs") or []:
            data = out.get("data") or {}
            markup = data.get("text/html")
            if not markup:
                continue
            markup = "".join(markup) if isinstance(markup, list) else str(markup)
            if "<td>" in markup:
                data["text/html"] = _NUMERIC_TD.sub(r'<td class="n">\1</td>', markup)


def replace_papermill_markers(nb: Any) -> None:
    """Drop papermill's error banner cell and turn its "stopped here" marker into one plain sentence.

    papermill writes both as raw HTML, which pages show escaped; the page's own failure banner says
    that the report failed and why.
    """
    kept = []
    for cell in nb.cells:
        if PAPERMILL_ERROR_TAG in _tags(cell) and cell.get("cell_type") == "markdown":
            if 'id="papermill-error-cell"' not in "".join(cell.get("source") or ""):
                continue
            cell.source = STOPPED_NOTE
        kept.append(cell)
    nb.cells = kept


def finding_headline(notebook: Any) -> str | None:
    """The plain text of the finding block's headline in an executed notebook, or None if it shows none."""
    skip_slow_optional_imports()
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, os.PathLike)) else notebook
    for cell in nb.get("cells", []):
        for out in cell.get("outputs") or []:
            role = ((out.get("metadata") or {}).get("joulebook") or {}).get("role")
            if role != FINDING_ROLE:
                continue
            markup = (out.get("data") or {}).get("text/html", "")
            markup = "".join(markup) if isinstance(markup, list) else str(markup)
            m = re.search(r'<p class="jb-headline">(.*?)</p>', markup, re.S) or re.search(r"(.*)", markup, re.S)
            text = html.unescape(re.sub(r"<[^>]*>", "", m.group(1)))
            text = " ".join(text.split())
            return text or None
    return None


def _papermill_arg(name: str, value: Any) -> list[str]:
    """papermill's flag for one parameter: -r (raw string), -p (number, bool) or -y (YAML, here JSON)."""
    if isinstance(value, str):
        return ["-r", name, value]
    if isinstance(value, (bool, int, float)) and value == value and value not in (float("inf"), float("-inf")):
        return ["-p", name, str(value)]
    return ["-y", json.dumps({name: value}, sort_keys=True, default=str)]


def rerun_commands(report_id: str, slug: str, notebook: str, parameters: dict[str, Any],
                   matrix_values: dict[str, Any] | None = None, config: str | None = None,
                   out: str = "reports") -> list[tuple[str, str]]:
    """The shell commands that rebuild one report, as (label, command) pairs; every value is shell-quoted.

    The ``joulebook reports build`` line selects the report (``--only`` id, with ``--region`` for a
    report whose only matrix key is the region, else ``--only`` its slug); the papermill line runs
    the notebook with the parameters the runner used.
    """
    matrix_values = dict(matrix_values or {})
    build = ["joulebook", "reports", "build"]
    if config and Path(config).as_posix() != "notebooks/reports.toml":
        build += ["--config", str(config)]
    if set(matrix_values) == {"region"}:
        build += ["--only", str(report_id), "--region", str(matrix_values["region"])]
    else:
        build += ["--only", str(slug if matrix_values else report_id)]
    build += ["--out", out]
    pm = ["papermill", str(notebook), "out.ipynb"]
    for name, value in parameters.items():
        pm += _papermill_arg(str(name), value)
    return [("From the project folder, rebuild this page:", shlex.join(build)),
            ("Or run the notebook with papermill and the same parameters:", shlex.join(pm))]


def render_html(notebook: Any, *, title: str, with_code: bool = False, failed: bool = False,
                error: str | None = None, index_href: str = "../index.html",
                links: list[tuple[str, str]] | None = None, css_href: str | None = "../" + SITE_CSS,
                failed_title: str = "This report failed.",
                failed_note: str = "The page shows the code and the traceback.", details: str | None = None,
                rerun: list[tuple[str, str]] | None = None) -> str:
    """HTML for an executed notebook (a path or a NotebookNode).

    ``failed`` forces code on and shows a banner (``failed_title``, ``failed_note``) with ``error``
    and, if given, ``details`` (preformatted text). ``links``: (href, text) pairs shown in the
    navigation bar (e.g. the .ipynb, metrics.json). ``css_href``: the site's stylesheet (None: none).
    ``rerun``: (label, command) pairs for the "Re-run this report" box (:func:`rerun_commands`).
    Every one of these values is escaped; Markdown in the notebook renders with raw HTML escaped.
    """
    skip_slow_optional_imports()
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, os.PathLike)) else notebook
    nb = nbformat.from_dict(copy.deepcopy(dict(nb)))
    nb.metadata["title"] = str(title)
    replace_papermill_markers(nb)
    mark_folds(nb, with_code or failed)
    mark_numeric_cells(nb)
    exporter = _exporter(with_code or failed)
    resources = {
        "metadata": {"name": str(title)},
        "jb_title": str(title),
        "jb_rerun": [(str(label), str(cmd)) for label, cmd in (rerun or [])],
        "jb_index_href": index_href,
        "jb_css_href": css_href or "",
        "jb_links": [(str(h), str(t)) for h, t in (links or [])],
        "jb_failed": bool(failed),
        "jb_failed_title": failed_title,
        "jb_failed_note": failed_note,
        "jb_error": error or "",
        "jb_details": details or "",
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def missing_page(*, title: str, error: str, index_href: str = "../index.html",
                 css_href: str = "../" + SITE_CSS) -> str:
    """The page of a report that has no notebook to render (autoescaped template)."""
    return templates_env().get_template("missing.html.j2").render(title=title, error=error, index_href=index_href,
                                                                   css_href=css_href)


CODE_MARKER = 'class="jp-CodeMirrorEditor'  # the element nbconvert wraps each code input in


def has_code(page: str) -> bool:
    """Whether a rendered page shows code cells."""
    return CODE_MARKER in page


def render_file(executed: Path, page: Path, **kw: Any) -> Path:
    atomic_write_text(page, render_html(executed, **kw))
    return page

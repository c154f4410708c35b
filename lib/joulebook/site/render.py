"""Executed notebook -> one self-contained HTML page (nbconvert, "lab" template).

Code-free by default (``exclude_input=True``; not papermill's report mode), with
code when asked (``--with-code``) and always for a failed run, so its traceback
is readable. The page links the site's stylesheet (``../site.css``, written once per
site) and escapes every value joulebook adds (autoescaped template blocks); Markdown
outputs render with raw HTML escaped, so a parameter or an error message holding markup
shows as text. Pages work offline: the template blocks that would load require.js,
MathJax, Mermaid or widget scripts from a CDN are emptied (an offline browser
logs each failed load as a console error), figures are inline PNGs.
The page carries no build stamp or time, so the same notebook gives the same bytes.
Figures get their ``alt`` text from the output's ``image/png`` metadata
(``display(fig, metadata={"image/png": {"alt": ...}})``), else "Figure".
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

RENDER_VERSION = "2"  # bump when the page layout changes (invalidates reused pages)
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_PREFIX = "joulebook"
TEMPLATE_NAME = f"{TEMPLATE_PREFIX}/page.html.j2"
SITE_CSS = "site.css"  # the site's stylesheet, written once per site; every page links to it


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
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class SafeRenderer(IPythonRenderer):
        def block_mermaidjs(self, code: str) -> str:  # nbconvert inserts a mermaid block's text unescaped
            return f'<div class="jp-Mermaid"><pre class="mermaid">\n{html.escape(code.strip())}\n</pre></div>'

    return SafeRenderer


def _exporter(with_code: bool):
    import jinja2
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


def render_html(notebook: Any, *, title: str, with_code: bool = False, failed: bool = False,
                error: str | None = None, index_href: str = "../index.html",
                links: list[tuple[str, str]] | None = None, css_href: str | None = "../" + SITE_CSS,
                failed_title: str = "This report failed.",
                failed_note: str = "The page shows the code and the traceback.", details: str | None = None) -> str:
    """HTML for an executed notebook (a path or a NotebookNode).

    ``failed`` forces code on and shows a banner (``failed_title``, ``failed_note``) with ``error``
    and, if given, ``details`` (preformatted text). ``links``: (href, text) pairs shown in the
    navigation bar (e.g. the .ipynb, metrics.json). ``css_href``: the site's stylesheet (None: none).
    Every one of these values is escaped; Markdown in the notebook renders with raw HTML escaped.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, os.PathLike)) else notebook
    nb = nbformat.from_dict(nb)
    nb.metadata["title"] = str(title)
    exporter = _exporter(with_code or failed)
    resources = {
        "metadata": {"name": str(title)},
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
    from joulebook.core.io import atomic_write_text

    atomic_write_text(page, render_html(executed, **kw))
    return page

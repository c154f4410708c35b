"""Executed notebook -> one self-contained HTML page (nbconvert, "lab" template).

Code-free by default (``exclude_input=True``; not papermill's report mode), with
code when asked (``--with-code``) and always for a failed run, so its traceback
is readable. Pages work offline: the template blocks that would load require.js,
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

RENDER_VERSION = "1"  # bump when the page layout changes (invalidates reused pages)
TEMPLATE_NAME = "joulebook_page.html.j2"

_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<link rel="icon" href="data:,">
<style type="text/css">
body.jp-Notebook { max-width: 1100px; margin: 0 auto; }
.jb-nav { font: 14px/1.4 system-ui, sans-serif; padding: 12px 20px 0; }
.jb-nav a { color: #1a5fb4; text-decoration: none; }
.jb-failed { font: 15px/1.4 system-ui, sans-serif; margin: 12px 20px; padding: 10px 14px;
             background: #fdecea; border-left: 5px solid #c01c28; color: #5c0a0f; }
.jb-failed code { white-space: pre-wrap; }
.jb-table { border-collapse: collapse; }
.jb-table td, .jb-table th { padding: 2px 8px; }
</style>
{%- endblock extra_css -%}
{%- block data_png scoped -%}
{%- set alt = (output.metadata.get('image/png') or {}).get('alt') if output.metadata.get('image/png') is mapping else none -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}" alt="{{ (alt or 'Figure') | escape_html }}"
{%- set width=output | get_metadata('width', 'image/png') -%}
{%- if width is not none %} width={{ width | escape_html }}{%- endif %}
{%- set height=output | get_metadata('height', 'image/png') -%}
{%- if height is not none %} height={{ height | escape_html }}{%- endif %}>
</div>
{%- endblock data_png -%}
{%- block body_header -%}
{{ super() }}
<nav class="jb-nav"><a href="{{ resources.jb_index_href }}">&larr; All reports</a>
{%- for link in resources.jb_links %} &middot; <a href="{{ link[0] }}">{{ link[1] }}</a>{% endfor %}</nav>
{%- if resources.jb_failed %}
<div class="jb-failed"><b>This report failed.</b> The page shows the code and the traceback.<br><code>{{ resources.jb_error }}</code></div>
{%- endif %}
{%- endblock body_header -%}
"""


def _exporter(with_code: bool):
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[jinja2.DictLoader({TEMPLATE_NAME: _TEMPLATE})])
    exporter.template_file = TEMPLATE_NAME
    exporter.exclude_input = not with_code
    exporter.exclude_input_prompt = not with_code
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    exporter.theme = "light"
    return exporter


def render_html(notebook: Any, *, title: str, with_code: bool = False, failed: bool = False,
                error: str | None = None, index_href: str = "../index.html",
                links: list[tuple[str, str]] | None = None) -> str:
    """HTML for an executed notebook (a path or a NotebookNode).

    ``failed`` forces code on and shows a banner with ``error``. ``links``:
    (href, text) pairs shown in the navigation bar (e.g. the .ipynb, metrics.json).
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, os.PathLike)) else notebook
    nb = nbformat.from_dict(nb)
    nb.metadata["title"] = title
    exporter = _exporter(with_code or failed)
    resources = {
        "metadata": {"name": title},
        "jb_index_href": index_href,
        "jb_links": links or [],
        "jb_failed": bool(failed),
        "jb_error": error or "",
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


CODE_MARKER = 'class="jp-CodeMirrorEditor'  # the element nbconvert wraps each code input in


def has_code(page: str) -> bool:
    """Whether a rendered page shows code cells."""
    return CODE_MARKER in page


def render_file(executed: Path, page: Path, **kw: Any) -> Path:
    from ..io import atomic_write_text

    atomic_write_text(page, render_html(executed, **kw))
    return page


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)

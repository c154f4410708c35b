"""The site around the report pages: ``index.html`` and the atomic swap into place.

The index is a section front page: one card per report (title, the one-line
finding and the key figures from its ``metrics.json``), grouped by topic in
the order of ``reports.toml``; failed reports are marked and link to their page
with the traceback. It loads nothing from the network. Apart from the one
element of class ``jb-stamp`` (build time), the same outcomes give the same bytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import math
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .render import escape

STAMP_CLASS = "jb-stamp"

_CSS = """
:root { --ink: #1d1d1f; --muted: #5e6470; --line: #d9dde3; --accent: #1a5fb4; --bad: #c01c28; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #f6f7f9; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 28px; }
header h1 { margin: 0 0 4px; font-size: 28px; }
header p { margin: 0; color: var(--muted); }
h2 { margin: 30px 0 12px; font-size: 20px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 14px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
        display: flex; flex-direction: column; }
.card h3 { margin: 0 0 2px; font-size: 17px; }
.card h3 a { color: var(--accent); text-decoration: none; }
.card .params { margin: 0 0 8px; color: var(--muted); font-size: 13px; }
.card .finding { margin: 0 0 10px; }
.figures { list-style: none; margin: 0 0 10px; padding: 0; display: grid;
           grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 8px; }
.figures li { background: #f0f4fa; border-radius: 6px; padding: 6px 8px; }
.figures .v { font-size: 19px; font-weight: 600; }
.figures .u { font-size: 13px; color: var(--muted); }
.figures .l { display: block; font-size: 12px; color: var(--muted); }
.links { margin: auto 0 0; font-size: 13px; }
.links a { color: var(--accent); }
.card.failed { border-color: var(--bad); border-left-width: 5px; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; color: #fff; background: var(--bad);
         border-radius: 4px; padding: 1px 6px; margin-left: 6px; vertical-align: middle; }
.error { font: 12px/1.35 ui-monospace, monospace; color: #5c0a0f; background: #fdecea; padding: 6px 8px;
         border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0 0 10px; }
footer { color: var(--muted); font-size: 13px; padding: 30px 20px 40px; }
footer a { color: var(--accent); }
"""


def format_number(value: Any) -> str:
    """Three significant digits, thousands separators, million/billion words for big values."""
    if value is None or isinstance(value, bool):
        return "n/a"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return escape(value)
    if math.isnan(v) or math.isinf(v):
        return "n/a"
    for limit, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(v) >= limit:
            return f"{v / limit:.3g} {word}"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{float(f'{v:.3g}'):,.0f}"
    if abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.3g}"


def _card(o: Mapping[str, Any]) -> str:
    slug = escape(o["slug"])
    page = escape(o["page"])
    failed = o["status"] != "ok"
    metrics = o.get("metrics") or {}
    title = (metrics.get("title") if not failed else None) or o["title"]
    params = " · ".join(f"{escape(k)} = {escape(v if isinstance(v, str) else v)}" for k, v in o.get("matrix_values", {}).items())
    parts = [f'<article class="card{" failed" if failed else ""}" id="report-{slug}">',
             f'<h3><a href="{page}">{escape(title)}</a>{"<span class=badge>failed</span>" if failed else ""}</h3>',
             f'<p class="params">{params or escape(o["id"])}</p>']
    if failed:
        parts.append('<p class="finding">This report failed to build; its page shows the code and the traceback.</p>')
        parts.append(f'<pre class="error">{escape(o.get("error") or "unknown error")}</pre>')
    else:
        if metrics.get("finding"):
            parts.append(f'<p class="finding">{escape(metrics["finding"])}</p>')
        figures = metrics.get("key_figures") or []
        if figures:
            parts.append('<ul class="figures">')
            for f in figures:
                parts.append(f'<li><span class="v">{format_number(f.get("value"))}</span> '
                             f'<span class="u">{escape(f.get("unit", ""))}</span>'
                             f'<span class="l">{escape(f.get("label", ""))}</span></li>')
            parts.append("</ul>")
    links = [f'<a href="{page}">{"traceback" if failed else "report"}</a>']
    if o.get("executed"):
        links.append(f'<a href="{escape(o["executed"])}">notebook</a>')
    if o.get("metrics_file") and not failed:
        links.append(f'<a href="{escape(o["metrics_file"])}">metrics.json</a>')
    parts.append(f'<p class="links">{" · ".join(links)}</p>')
    parts.append("</article>")
    return "\n".join(parts)


def _topic_anchor(topic: str) -> str:
    return "topic-" + (re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-") or "other")


def index_html(outcomes: Iterable[Mapping[str, Any]], *, stamp: str, facts: str) -> str:
    """The front page. ``stamp``: the build time text; ``facts``: commit/data line (deterministic)."""
    outcomes = list(outcomes)
    topics: dict[str, list[Mapping[str, Any]]] = {}
    for o in outcomes:
        topics.setdefault(o["topic"], []).append(o)
    n_failed = sum(1 for o in outcomes if o["status"] != "ok")
    summary = f"{len(outcomes)} report{'s' if len(outcomes) != 1 else ''}"
    if n_failed:
        summary += f", {n_failed} failed"
    nav = " · ".join(f'<a href="#{_topic_anchor(t)}">{escape(t)}</a>' for t in topics)
    body = []
    for topic, items in topics.items():
        body.append(f'<section id="{_topic_anchor(topic)}"><h2>{escape(topic)}</h2><div class="cards">')
        body.extend(_card(o) for o in items)
        body.append("</div></section>")
    if not outcomes:
        body.append("<p>No reports were built.</p>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>joulebook reports</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>joulebook reports</h1>
<p>Energy, money, carbon and water of ML training and inference, with every assumption and source stated. {escape(summary)}.</p>
<p>{nav}</p>
</header>
<main>
{chr(10).join(body)}
</main>
<footer>
<p class="{STAMP_CLASS}">{escape(stamp)}</p>
<p>{escape(facts)} · <a href="manifest.json">manifest.json</a> (parameters, versions, durations, cache keys)</p>
</footer>
</body>
</html>
"""


# --------------------------------------------------------------------------- atomic swap

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(new: Path, target: Path) -> None:
    """Make ``new`` the folder at ``target``; the previous site is removed afterwards.

    On Linux both folders are exchanged in one system call, so a reader sees either
    the old or the new site, never a mix or nothing. Elsewhere two renames are used
    (the old site is parked as ``.<name>.old-*`` and recovered by the next build).
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # now holds the old site
        return
    parked = target.parent / f".{target.name}.old-{os.getpid()}"
    os.rename(target, parked)
    os.rename(new, target)
    shutil.rmtree(parked, ignore_errors=True)


def temp_prefix(target: Path) -> str:
    return f".{target.name}.building-"


def clean_stale(target: Path) -> list[Path]:
    """Remove temporary folders of interrupted builds (whose process is gone); returns them.

    If the site itself is missing but a parked old site exists (interrupted between
    two renames on a platform without atomic exchange), the old site is restored.
    """
    removed = []
    parent = target.parent
    if not parent.is_dir():
        return removed
    for p in sorted(parent.glob(f".{target.name}.building-*")):
        m = re.search(r"-building-(\d+)-", p.name)
        if m and _alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    for p in sorted(parent.glob(f".{target.name}.old-*")):
        if not target.exists():
            os.rename(p, target)
        else:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_readable(root: Path) -> None:
    """Files written atomically are private (0600); a published site should be world-readable."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [root, *root.rglob("*")]:
        try:
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)
        except OSError:
            pass

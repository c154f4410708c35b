"""Display tables: readable headers with units, names instead of ids, one number style, scrolling.

:func:`table` turns a DataFrame of raw values into a :class:`Table`: only the columns asked
for, under readable headers (``{"emissions_kg": "Emissions (kg CO2e)"}``), region and
accelerator ids replaced by their names (through :mod:`joulebook.data`), every cell through
:mod:`joulebook.core.format` (3 significant figures, "—" for missing). In a notebook the
table shows itself as HTML: text left-aligned, numbers right-aligned, wrapped in a box that
scrolls sideways when the table is wider than the page (CSS ``overflow-x: auto``), and
optionally sortable by clicking a header: a small inline script, no CDN, so it works offline.
Cells can carry a marker (``†``) where a value is substituted rather than measured for that row.
"""

from __future__ import annotations

import html
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from joulebook import data
from joulebook.core import format as fmt
from joulebook.core.errors import InputError, UnknownNameError

SUBSTITUTED_MARK = "†"

# columns whose values are ids that readers should see as names
NAME_LOOKUPS = ("region", "accelerator")


def region_name(region_id: Any) -> str:
    """The region's name (``se`` -> ``Sweden``); unknown ids are shown as given."""
    if fmt.is_missing(region_id):
        return fmt.MISSING
    try:
        return data.region(str(region_id)).name
    except UnknownNameError:
        return str(region_id)


def accelerator_name(accelerator_id: Any) -> str:
    """The accelerator's name (``h100-sxm`` -> ``H100 SXM``); unknown ids are shown as given."""
    if fmt.is_missing(accelerator_id):
        return fmt.MISSING
    try:
        return data.accelerator(str(accelerator_id)).name
    except UnknownNameError:
        return str(accelerator_id)


_NAMERS = {"region": region_name, "accelerator": accelerator_name}


def parameter_text(name: str, value: Any) -> str:
    """A parameter's value as a reader sees it: region and accelerator ids as names (``us-va`` ->
    ``Virginia (PJM)``), numbers through the formatter, lists joined with commas, booleans as
    yes/no, None as the missing marker. The exact values a run used are in the page's re-run box."""
    namer = next((f for key, f in _NAMERS.items() if key in name.lower()), None)

    def one(v: Any) -> str:
        if isinstance(v, (list, tuple)):
            return ", ".join(one(x) for x in v) if v else fmt.MISSING
        if isinstance(v, Mapping):
            return ", ".join(f"{k}: {one(x)}" for k, x in v.items()) if v else fmt.MISSING
        if isinstance(v, str) and namer is not None and not fmt.is_missing(v):
            return namer(v)
        if isinstance(v, str):
            return v if v.strip() else fmt.MISSING
        if isinstance(v, numbers.Real) and not isinstance(v, bool):  # numpy numbers too
            return fmt.number(v)
        return fmt.text(v)

    return one(value)


USER_SOURCE = "given in the parameters"  # the source title of a value the reader gave


def source_titles(ids: Iterable[Any]) -> dict[str, str]:
    """Source id -> its title in ``sources.csv``; ``user`` (a value given as a parameter) -> :data:`USER_SOURCE`."""
    src = data.sources_for([str(i) for i in ids if not fmt.is_missing(i) and i and i != "user"])
    return {**dict(zip(src["source_id"], src["title"], strict=True)), "user": USER_SOURCE}


@data.cached
def _accelerator_ids() -> re.Pattern:
    """Every accelerator id as a whole word, longest first (``h100-sxm`` before ``h100``); built once per data folder."""
    ids = sorted(data.table("accelerators")["accelerator_id"], key=len, reverse=True)
    return re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, ids))})(?![\w-])")


def with_accelerator_names(text: Any) -> str:
    """Free text with accelerator ids written as names (``row for h100-sxm`` -> ``row for NVIDIA H100 SXM5``)."""
    if fmt.is_missing(text):
        return fmt.MISSING
    return _accelerator_ids().sub(lambda m: accelerator_name(m.group(1)), str(text))


def assumptions_table(frame: pd.DataFrame, *,
                      caption: str = "Assumptions used (override any of them by name)") -> Table:
    """An :meth:`Assumptions.to_frame` as a page table: each value as a reader reads it (:func:`parameter_text`,
    unless the frame already has a ``shown`` column), its unit, its note with accelerator names, its source's
    title; a ``given`` column (the reader overrode it) is shown as "Given by you"."""
    df = frame.copy()
    if "shown" not in df:
        df["shown"] = [parameter_text(str(n), v) for n, v in zip(df["name"], df["value"], strict=True)]
    df["note"] = [with_accelerator_names(t) if not fmt.is_missing(t) and str(t) else "" for t in df["note"]]
    titles = source_titles(df["source"])
    df["source_title"] = [titles.get(s, s) if not fmt.is_missing(s) and s else fmt.MISSING for s in df["source"]]
    columns = {"name": "Assumption", "shown": "Value", "unit": "Unit", "note": "Note", "source_title": "Source"}
    kinds = {"shown": "text", "note": "text", "unit": "text"}
    if "given" in df:
        columns["given"] = "Given by you"
        kinds["given"] = "text"
    return table(df, columns, kinds=kinds, caption=caption)


def _kind_of(col: str, series: pd.Series) -> str:
    if col in NAME_LOOKUPS or not is_numeric_dtype(series) or is_bool_dtype(series):
        return "text"
    if col == "year" or col.endswith("_year"):
        return "year"
    if series.dtype.kind in "iu":
        return "integer"
    if col.endswith("_usd"):
        return "money"
    if col.endswith(("_share", "_fraction")):
        return "percent"
    return "number"


@dataclass
class Table:
    """A table ready to show: ``frame`` holds the display strings, ``values`` the raw numbers (for sorting)."""

    frame: pd.DataFrame
    values: pd.DataFrame
    kinds: dict[str, str]
    marks: pd.DataFrame
    caption: str = ""
    sortable: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c, k in self.kinds.items() if k in fmt.NUMERIC_KINDS]

    def to_html(self) -> str:
        """Escaped HTML: a scrolling wrapper, a captioned table, aligned cells, optional sorter."""
        cols = list(self.frame.columns)
        num = set(self.numeric_columns)
        cls = "jb-table jb-display jb-sortable" if self.sortable else "jb-table jb-display"
        out = [_STYLE, '<div class="jb-scroll" style="overflow-x:auto;max-width:100%">', f'<table class="{cls}">']
        if self.caption:
            out.append(f"<caption>{html.escape(self.caption)}</caption>")
        out.append("<thead><tr>")
        for c in cols:
            label = html.escape(str(c))
            if self.sortable:
                label = f'<button type="button" class="jb-sort" style="{_BUTTON}">{label}</button>'
            out.append(f'<th scope="col"{" class=n" if c in num else ""}>{label}</th>')
        out.append("</tr></thead><tbody>")
        for i in range(len(self.frame)):
            out.append("<tr>")
            for c in cols:
                shown = self.frame[c].iat[i]
                raw = self.values[c].iat[i]
                attrs = ""
                if c in num:
                    attrs = f' class=n data-v="{_sort_value(raw)}"'
                elif self.sortable and shown == fmt.MISSING:
                    attrs = ' data-v=""'
                cell = html.escape(str(shown))
                if bool(self.marks[c].iat[i]):
                    cell += f' <span class="jb-mark" title="substituted value">{SUBSTITUTED_MARK}</span>'
                out.append(f"<td{attrs}>{cell}</td>")
            out.append("</tr>")
        out.append("</tbody></table></div>")
        for note in self.notes:
            out.append(f'<p class="jb-table-note">{html.escape(note)}</p>')
        if self.sortable:
            out.append(SORT_SCRIPT)
        return "".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()

    def styler(self):
        """The display frame as a pandas Styler (numbers right-aligned), for users who prefer it."""
        right = self.numeric_columns
        st = self.frame.style.hide(axis="index").set_properties(**{"text-align": "left"})
        if right:
            st = st.set_properties(subset=right, **{"text-align": "right"})
        if self.caption:
            st = st.set_caption(self.caption)
        return st


def table(df: pd.DataFrame, columns: Mapping[str, str], *, kinds: Mapping[str, str] | None = None,
          marks: Mapping[str, str] | None = None, names: bool = True, caption: str = "", sortable: bool = False,
          notes: list[str] | None = None, digits: int = fmt.DIGITS) -> Table:
    """A display :class:`Table` of ``df``.

    ``columns``: raw column -> header, in display order (only these are shown; put the unit in the
    header, ``"Emissions (kg CO2e)"``). ``kinds``: raw column -> one of :data:`format.KINDS`
    (default inferred: ``*_year`` year, ints integer, ``*_usd`` money, ``*_share`` percent, floats
    number, else text). ``marks``: raw value column -> raw boolean column; a true flag puts the
    substituted-value marker after that cell. ``names``: show ``region`` / ``accelerator`` ids as names.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("df", "expected a pandas DataFrame")
    missing = [c for c in list(columns) + list((marks or {}).values()) if c not in df.columns]
    if missing:
        raise InputError("columns", f"not in the frame: {', '.join(map(str, missing))}")
    kinds = dict(kinds or {})
    bad = [k for k in kinds.values() if k not in fmt.KINDS]
    if bad:
        raise InputError("kinds", f"unknown kind {bad[0]!r} (one of {', '.join(fmt.KINDS)})")
    shown: dict[str, list[str]] = {}
    raw: dict[str, list[Any]] = {}
    kind_by_header: dict[str, str] = {}
    mark_cols: dict[str, list[bool]] = {}
    for col, head in columns.items():
        s = df[col]
        kind = kinds.get(col) or _kind_of(col, s)
        if names and col in _NAMERS:
            cells = [_NAMERS[col](v) for v in s]
        else:
            cells = [fmt.value(v, kind, digits) for v in s]
        shown[head] = cells
        raw[head] = list(s)
        kind_by_header[head] = kind
        flag = (marks or {}).get(col)
        mark_cols[head] = [bool(x) and not fmt.is_missing(x) for x in df[flag]] if flag else [False] * len(df)
    return Table(frame=pd.DataFrame(shown, columns=list(shown)), values=pd.DataFrame(raw, columns=list(raw)),
                 kinds=kind_by_header, marks=pd.DataFrame(mark_cols, columns=list(mark_cols)), caption=caption,
                 sortable=sortable, notes=list(notes or []))


def _sort_value(raw: Any) -> str:
    """The raw number a numeric cell sorts by ("" for missing or not a number: sorted last)."""
    if fmt.is_missing(raw) or isinstance(raw, bool):
        return ""
    try:
        return f"{float(raw):.6g}"
    except (TypeError, ValueError):
        return ""


_BUTTON = "font:inherit;font-weight:bold;background:none;border:0;padding:0;cursor:pointer;text-align:inherit"
# selectors specific enough to beat the notebook theme's right-aligned cells (.jp-RenderedHTMLCommon td)
_STYLE = ("<style>div.jb-scroll table.jb-display td,div.jb-scroll table.jb-display th{text-align:left;"
          "padding:2px 8px;vertical-align:top;min-width:11em;max-width:28em}div.jb-scroll table.jb-display th{white-space:nowrap}"
          "div.jb-scroll table.jb-display .n{text-align:right;white-space:nowrap;min-width:0}"
          "div.jb-scroll table.jb-display caption{text-align:left;font-weight:bold}"
          ".jb-sortable th[aria-sort=ascending] button::after{content:' \\25B2'}"
          ".jb-sortable th[aria-sort=descending] button::after{content:' \\25BC'}</style>")

# Click (or press Enter on) a header to sort by it; again to reverse. Numbers sort by their raw value
# (data-v), text alphabetically; missing values ("—") always last. Bound once per page.
SORT_SCRIPT = """<script>(function(){if(window.jbSortable)return;window.jbSortable=1;
document.addEventListener('click',function(e){var b=e.target.closest&&e.target.closest('table.jb-sortable th button');
if(!b)return;var th=b.parentNode,tr=th.parentNode,t=th.closest('table'),i=Array.prototype.indexOf.call(tr.children,th),
up=th.getAttribute('aria-sort')!=='ascending',tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows);
function k(r){var c=r.cells[i];if(!c.hasAttribute('data-v'))return [0,c.textContent.trim().toLowerCase()];
var v=c.getAttribute('data-v');return v===''?[1,0]:[0,parseFloat(v)];}
rows.sort(function(a,b){var x=k(a),y=k(b);if(x[0]||y[0])return x[0]-y[0];
return (x[1]<y[1]?-1:x[1]>y[1]?1:0)*(up?1:-1);});rows.forEach(function(r){tb.appendChild(r);});
Array.prototype.forEach.call(tr.children,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',up?'ascending':'descending');});})();</script>"""

"""One plotting theme for every report, and small, deterministic figures."""

from __future__ import annotations

from typing import Any

from joulebook.display import format

PALETTE = "colorblind"
FIGURE_DPI = 80  # keeps embedded PNGs small (a report page stays well under 2 MB)


def setup() -> None:
    """Apply the joulebook theme. Call once at the top of a notebook."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update({
        "figure.dpi": FIGURE_DPI,
        "savefig.dpi": FIGURE_DPI,
        "figure.figsize": (8.0, 4.2),
        "figure.autolayout": True,
        "axes.titleweight": "bold",
        "svg.hashsalt": "joulebook",
        "path.simplify": True,
    })
    try:  # inline PNG only, at the dpi above
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:  # pragma: no cover - outside IPython
        pass


def figure(nrows: int = 1, ncols: int = 1, **kw: Any):
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, **kw)


def bar(ax, labels, values, *, xlabel: str = "", title: str = "", fmt: str | None = None, highlight: str | None = None):
    """Horizontal bars with value labels; ``highlight`` marks one label."""
    import seaborn as sns

    colors = sns.color_palette(PALETTE)
    cols = [colors[1] if (highlight is not None and lab == highlight) else colors[0] for lab in labels]
    ax.barh(list(map(str, labels)), values, color=cols)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, " " + (fmt.format(v) if fmt else format.number(v)), va="center", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.margins(x=0.18)
    return ax


def show(fig=None) -> None:
    """Render and close a figure so it appears exactly once in the output."""
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.gcf()
    try:
        from IPython.display import display

        display(fig)
    finally:
        plt.close(fig)


def log_ticks(axis, lo: float, hi: float) -> None:
    """Log-axis tick labels that do not collide: over 2.5 decades and more, decades only; on a narrower range,
    1-2-5 steps written as plain numbers (:func:`joulebook.display.format.number`)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    if not (lo > 0 and hi > lo) or math.log10(hi / lo) >= 2.5:
        axis.set_minor_formatter(NullFormatter())
        return
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: format.number(x)))
    axis.set_minor_locator(NullLocator())

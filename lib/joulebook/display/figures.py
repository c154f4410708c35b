"""Showing figures: once, at 2× resolution, with alt text that says what the figure shows.

:func:`show` renders the figure itself (``bbox_inches="tight"``, like the inline backend) at
:data:`SCALE` times its dpi, reduces the PNG to a 256-colour palette (octree, no dithering: charts
use a handful of colours, and a 2× palette image is smaller than the full-colour 1× one was) and
displays it with its CSS size (``width``/``height`` metadata: the page shows it at its 1× size,
sharp on high-density screens) and its ``alt`` text in the ``image/png`` metadata, which the
site's page template writes into ``<img alt>``. The same figure gives the same bytes.
"""

from __future__ import annotations

import io

from joulebook.core.errors import InputError

SCALE = 2  # pixels per CSS pixel in the PNG (2×: sharp on high-density screens)
PALETTE_COLORS = 256  # PNG palette size (0: keep full colour)


def describe(fig) -> str:
    """A fallback description built from a figure's titles and axis labels ('' if it has none).

    Prefer an ``alt`` written for the reader (what the figure shows, with its main numbers);
    this is what :func:`joulebook.display.plots.show` uses when it is given none.
    """
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(suptitle.get_text().strip())
    for ax in fig.get_axes():
        title = ax.get_title().strip() or ax.get_title(loc="left").strip()
        xlabel, ylabel = ax.get_xlabel().strip(), ax.get_ylabel().strip()
        axes = " against ".join(x for x in (ylabel, xlabel) if x)
        if title and axes:
            parts.append(f"{title} ({axes})")
        elif title or axes:
            parts.append(title or axes)
    text = "; ".join(dict.fromkeys(parts))
    return f"Chart: {text}" if text else ""


def png_bytes(fig, *, scale: int = SCALE, colors: int = PALETTE_COLORS) -> tuple[bytes, int, int]:
    """The figure as a PNG at ``scale`` × its dpi, and its CSS width and height (pixels / scale)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi * scale, bbox_inches="tight", facecolor="white",
                metadata={"Software": None}, pil_kwargs={"compress_level": 1 if colors else 6})
    data = buf.getvalue()
    from PIL import Image  # a dependency (quantising); imported here, not at import time

    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
        if colors:
            small = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE,
                                               dither=Image.Dither.NONE)
            out = io.BytesIO()
            small.save(out, format="PNG", compress_level=6)  # optimize=True: 6 % smaller, 3.7x slower
            if out.tell() < len(data):
                data = out.getvalue()
    return data, max(1, round(width / scale)), max(1, round(height / scale))


def show(fig, alt: str) -> None:
    """Display ``fig`` once, at 2×, with ``alt`` as its description (the page's ``<img alt>``), then close it."""
    if not isinstance(alt, str) or not alt.strip():
        raise InputError("alt", "a figure needs a description of what it shows")
    display_png(fig, alt.strip())


def display_png(fig, alt: str | None) -> None:
    """Display ``fig`` once as a 2× PNG at its 1× size (``alt`` in the metadata when given), then close it."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    try:
        data, width, height = png_bytes(fig)
        meta = {"width": width, "height": height, **({"alt": alt} if alt else {})}
        display(Image(data=data, format="png"), metadata={"image/png": meta})
    finally:
        plt.close(fig)

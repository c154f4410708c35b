"""Showing figures: once, with alt text that says what the figure shows."""

from __future__ import annotations

from joulebook.core.errors import InputError


def show(fig, alt: str) -> None:
    """Display ``fig`` once with ``alt`` as its description (the page's ``<img alt>``), then close it."""
    if not isinstance(alt, str) or not alt.strip():
        raise InputError("alt", "a figure needs a description of what it shows")
    import matplotlib.pyplot as plt
    from IPython.display import display

    try:
        display(fig, metadata={"image/png": {"alt": alt.strip()}})
    finally:
        plt.close(fig)

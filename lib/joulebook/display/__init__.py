"""Display layer: one number formatter (:mod:`.format`), tables (:mod:`.tables`) and figures (:mod:`.figures`).

``format`` imports only the core (errors); ``tables`` adds :mod:`joulebook.data` for names
instead of ids. Nothing here computes a model result: stories hand frames in, text comes out.
"""

from joulebook.display import format
from joulebook.display.format import MISSING

__all__ = ["MISSING", "format"]

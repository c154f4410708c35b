"""Display layer: tables (:mod:`.tables`), figures (:mod:`.figures`), plots and the notebook helpers (:mod:`.report`).

Numbers become text through the one formatter, :mod:`joulebook.core.format` (it lives in the core so that
every layer, models included, writes numbers the same way). ``tables`` adds :mod:`joulebook.data` for names
instead of ids. Nothing here computes a model result: stories hand frames in, text comes out.
"""

from joulebook.core import format
from joulebook.core.format import MISSING

__all__ = ["MISSING", "format"]

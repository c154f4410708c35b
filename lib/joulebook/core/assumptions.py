"""Named, sourced, overridable model assumptions.

Every estimate carries an :class:`Assumptions` mapping (name -> value, unit,
source, whether the user overrode it) so reports can print what was used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Assumption:
    name: str
    value: Any
    unit: str
    source: str
    note: str = ""
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Assumptions(Mapping[str, Assumption]):
    """An ordered, read-only collection of :class:`Assumption`."""

    def __init__(self, items: list[Assumption] | None = None):
        self._items: dict[str, Assumption] = {}
        for a in items or []:
            self._items[a.name] = a

    def add(self, name: str, value: Any, unit: str, source: str, note: str = "", overridden: bool = False) -> None:
        self._items[name] = Assumption(name, value, unit, source, note, overridden)

    def merge(self, other: Assumptions) -> Assumptions:
        out = Assumptions(list(self._items.values()))
        for a in other.values():
            out._items[a.name] = a
        return out

    def __getitem__(self, key: str) -> Assumption:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def to_list(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self._items.values()]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_list(), columns=["name", "value", "unit", "source", "note", "overridden"])

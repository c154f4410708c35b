"""Exception types. Every error a user can cause names the parameter at fault."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence


class JoulebookError(Exception):
    """Base class for every error joulebook raises on purpose."""


class InputError(JoulebookError, ValueError):
    """A parameter value is invalid (negative, NaN, wrong unit, inconsistent)."""

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


class UnknownNameError(JoulebookError, KeyError):
    """A name (region, accelerator, model...) is not in the shipped data."""

    kind = "name"

    def __init__(self, name: str, choices: Iterable[str], parameter: str | None = None):
        choices = sorted(set(choices))
        self.name = name
        self.parameter = parameter or self.kind
        self.close_matches = close_matches(name, choices)
        hint = (
            f"; close matches: {', '.join(self.close_matches)}"
            if self.close_matches
            else f"; known: {', '.join(choices[:12])}{' ...' if len(choices) > 12 else ''}"
        )
        self.message = f"{self.parameter}: unknown {self.kind} {name!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class UnknownRegionError(UnknownNameError):
    kind = "region"


class UnknownAcceleratorError(UnknownNameError):
    kind = "accelerator"


class UnknownModelError(UnknownNameError):
    kind = "model"


class DataValidationError(JoulebookError):
    """A shipped or user-supplied data file breaks its schema."""

    def __init__(self, file: str, message: str, row: int | None = None, column: str | None = None):
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        self.file, self.row, self.column = file, row, column
        super().__init__(f"{where}: {message}")


class MeasurementUnavailable(JoulebookError, RuntimeError):
    """No way to read GPU power or energy on this machine; the message says why."""


def close_matches(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Close matches for ``name`` among ``choices`` (case-insensitive, substrings first)."""
    choices = list(choices)
    low = name.lower()
    lowered = {c.lower(): c for c in choices}
    subs = [c for c in choices if low and (low in c.lower() or c.lower() in low)]
    fuzzy = [lowered[m] for m in difflib.get_close_matches(low, list(lowered), n=n, cutoff=0.5)]
    out: list[str] = []
    for c in subs + fuzzy:
        if c not in out:
            out.append(c)
    return out[:n]


def reject_unknown(names: Iterable[str], known: Collection[str], *, message: str = "unknown parameter",
                   otherwise: str = "") -> None:
    """Raise :class:`InputError` naming the first of ``names`` not in ``known``.

    The message lists close matches among ``known``; where there are none, ``otherwise`` is appended instead.
    """
    for name in names:
        if name not in known:
            hint = close_matches(name, known)
            raise InputError(name, message + (f"; close matches: {', '.join(hint)}" if hint else otherwise))


def require_parameters(given: Collection[str], parameters: Sequence[str]) -> None:
    """Every name of ``parameters`` given, and no other: :class:`InputError` naming the first unknown name (with
    close matches, else the list of parameters), then the first missing one.

    A report story's ``check`` starts with it: the defaults live in the notebook's parameters cell, so whoever
    calls ``check`` (the notebook, the metrics hook, a test) passes every parameter.
    """
    reject_unknown(given, parameters, otherwise=f"; parameters: {', '.join(parameters)}")
    for name in parameters:
        if name not in given:
            raise InputError(name, "a value is required (the notebook's parameters cell gives every default)")

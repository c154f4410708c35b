"""Parameter values of a report, checked through the library's own look-ups before any kernel starts.

The batch runner calls :func:`check_job` for every selected report before it
touches the site, so a bad value (``--region nowhere``, an unknown accelerator, a
misspelt time zone, a measurement file that does not exist) stops the build with
one line naming the report and the parameter (close matches listed) and changes
nothing. Names decide the look-up, so a notebook added later is covered as long as
it names its parameters the way the others do:

=====================================  ==========================================
parameter name                         look-up
=====================================  ==========================================
``region``, ``*_region``               :func:`joulebook.data.region`
``regions``, ``*_regions``             each item (or each key of a mapping)
``accelerator``, ``*_accelerator``     :func:`joulebook.data.accelerator`
``accelerators``                       each item
``model``, ``student``                 :func:`joulebook.models.presets.model`
``precision``, ``*_precision``        :func:`joulebook.data.normalise_precision`
``tz``, ``*_tz``                       :func:`joulebook.models.schedule.time_zone`
``measurement_file``                   :func:`joulebook.measure.jsonl.resolve_measurement_file`
=====================================  ==========================================

``None``, ``""`` and values that are not names (numbers, booleans) are left to the
notebook (several notebooks read ``None``/``""`` as "none"); the notebook's own
validation cell still checks everything else when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from joulebook import data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.measure.jsonl import resolve_measurement_file
from joulebook.models import presets as models
from joulebook.models import schedule


def _region(v: Any) -> None:
    data.region(v)


def _accelerator(v: Any) -> None:
    data.accelerator(v)


def _model(v: Any) -> None:
    models.model(v)


def _precision(v: Any) -> None:
    data.normalise_precision(v)


def _tz(v: Any) -> None:
    schedule.time_zone(v)


def _file(v: Any) -> None:
    resolve_measurement_file(v)


def _lookup(name: str) -> tuple[Callable[[Any], None], bool] | None:
    """(check, is_collection) for a parameter name, or None when its name implies no look-up."""
    if name == "region" or name.endswith("_region"):
        return _region, False
    if name == "regions" or name.endswith("_regions"):
        return _region, True
    if name == "accelerator" or name.endswith("_accelerator"):
        return _accelerator, False
    if name == "accelerators" or name.endswith("_accelerators"):
        return _accelerator, True
    if name in ("model", "student"):
        return _model, False
    if name == "precision" or name.endswith("_precision"):
        return _precision, False
    if name == "tz" or name.endswith("_tz"):
        return _tz, False
    if name == "measurement_file":
        return _file, False
    return None


def renamed(err: InputError | UnknownNameError, parameter: str):
    """The same error, naming ``parameter`` (e.g. ``--region`` or ``training_energy.region``)."""
    if isinstance(err, UnknownNameError):
        err.parameter = parameter
        err.message = f"{parameter}: " + err.message.split(": ", 1)[-1]
        err.args = (err.message,)
        return err
    text = str(err).split(": ", 1)[-1]
    new = InputError(parameter, text)
    return new


def check_value(name: str, value: Any, where: str) -> None:
    """Check one parameter value; raises naming ``where``.

    Only names are looked up: a value of another type (``baseline_accelerators = 32`` is a count)
    is left to the notebook's own validation.
    """
    rule = _lookup(name)
    if rule is None:
        return
    check, many = rule
    if many and isinstance(value, Mapping):
        items = list(value)
    elif many and isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    for item in items:
        if not isinstance(item, str) or item == "":
            continue
        if not item.strip():
            raise InputError(where, f"{item!r} is not a valid {name}")
        try:
            check(item)
        except (InputError, UnknownNameError) as e:
            raise renamed(e, where) from None


def check_parameters(label: str, parameters: Mapping[str, Any]) -> None:
    """Check every parameter of one report (``label`` names it in the message)."""
    for name, value in parameters.items():
        check_value(name, value, f"{label}: {name}")

"""The ``joulebook`` command line.

Verbs live in modules of this package named ``verb_<name>.py``; sub-commands of
``estimate`` live in ``estimate_<name>.py``. Each exposes ``register(subparsers)``
which adds its parser and sets ``func`` (taking the parsed namespace and
returning an exit code). Discovery keeps verbs independent of each other.

Exit codes: 0 ok, 1 failure (a data fault: ``joulebook: data error: <file>, row <n>, column <c>: ...``),
2 bad usage or bad input (one line on stderr). Every data table is validated before a verb runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys
import traceback
from pathlib import Path

from joulebook import __version__, data
from joulebook.core import validate
from joulebook.core.errors import DataValidationError, JoulebookError, UnknownNameError


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes "-7e9" or "-inf" for a flag ("expected one argument"): read them as values, so the
        # value's own check can say it is negative
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$",
                                                   re.IGNORECASE)

    def error(self, message: str):  # one clear line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _modules(prefix: str):
    pkg = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith(prefix):
            yield importlib.import_module(f"{__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="joulebook", description="Energy, cost, carbon and water of ML training and inference.")
    parser.add_argument("--version", action="version", version=f"joulebook {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    est = sub.add_parser("estimate", help="estimate a training run or inference service")
    est_sub = est.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    est.set_defaults(func=lambda args: (est.print_help(), 2)[1])
    for mod in _modules("estimate_"):
        mod.register(est_sub)
    for mod in _modules("verb_"):
        mod.register(sub)
    return parser


def _empty_value(argv: list[str]) -> str | None:
    """The flag given an empty value (``--region ''``, ``--only=``), or None: an empty value is never a choice."""
    for i, tok in enumerate(argv):
        if tok == "--":  # what follows is another program's command line (joulebook measure -- ...)
            return None
        if tok.startswith("--") and "=" in tok and not tok.split("=", 1)[1].strip():
            return tok.split("=", 1)[0]
        if not tok.strip():
            return argv[i - 1] if i and argv[i - 1].startswith("-") else "argument"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `reports build` checks its own flags up front with report-specific messages ("--only: empty report id")
    empty = None if argv[:1] == ["reports"] else _empty_value(argv)
    if empty:
        print(f"joulebook: error: {empty.lstrip('-').replace('-', '_')}: empty value (leave the flag out for its "
              "default)", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors (exit 2, one line)
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        validate.check_named(vars(args))  # every numeric flag within its physical range (validate.BOUNDS)
        data.validate_all()  # a fault anywhere in data/ stops every verb with one line (exit 1), before any work
        return int(args.func(args) or 0)
    except UnknownNameError as e:
        print(f"joulebook: error: {e}", file=sys.stderr)
        return 2
    except DataValidationError as e:
        print(f"joulebook: data error: {e}", file=sys.stderr)
        return 1
    except JoulebookError as e:
        code = 2 if isinstance(e, ValueError) else 1
        print(f"joulebook: error: {e}", file=sys.stderr)
        return code
    except BrokenPipeError:  # e.g. `joulebook regions | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("joulebook: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line, exit 1; JOULEBOOK_TRACEBACK=1 shows where
        if os.environ.get("JOULEBOOK_TRACEBACK"):
            raise
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"joulebook: internal error: {type(e).__name__}: {e} (at {Path(where.filename).name}:{where.lineno}; "
              "set JOULEBOOK_TRACEBACK=1 for the traceback and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``joulebook reports build``: run the declared notebooks and publish the HTML site."""

from __future__ import annotations

import argparse

from joulebook.site import build
from joulebook.sweeps.cluster import check_cluster


def register(subparsers) -> None:
    p = subparsers.add_parser("reports", help="build the HTML report site from the parameterized notebooks")
    sub = p.add_subparsers(dest="reports_command", metavar="COMMAND", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    b = sub.add_parser(
        "build", help="execute the reports of reports.toml and write the site",
        description="Execute every report declared in reports.toml with papermill (typed parameters, one scratch "
                    "folder each), render code-free HTML pages and an index, and swap the site into place. "
                    "Unchanged reports are reused. Exit 1 if any report failed (the others are still built).")
    b.add_argument("--config", default="notebooks/reports.toml", help="report set (default: %(default)s)")
    b.add_argument("--out", default="reports", help="site folder (default: %(default)s)")
    b.add_argument("--only", action="append", metavar="ID",
                   help="build only this report id or slug (repeat or comma-separate); others are carried over")
    b.add_argument("--region", metavar="R", help="build region-taking reports for region R only")
    b.add_argument("--with-code", action="store_true", help="keep the code cells in the pages")
    b.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="parallel processes (default: 1)")
    b.add_argument("--cluster", metavar="WHERE",
                   help="run the executions on Dask: local, local:N or tcp://HOST:PORT (workers need joulebook installed)")
    b.add_argument("--force", action="store_true", help="re-execute reports even when unchanged")
    b.set_defaults(func=_build)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _build(args) -> int:
    if args.cluster is not None:
        check_cluster(args.cluster)
    result = build(args.config, args.out, only=args.only, region=args.region, with_code=args.with_code,
                   jobs=args.jobs, force=args.force, cluster=args.cluster)
    return result.exit_code

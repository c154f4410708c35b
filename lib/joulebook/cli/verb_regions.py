"""``joulebook regions`` and ``joulebook accelerators``: what the shipped data knows."""

from __future__ import annotations

import pandas as pd

from joulebook import data
from joulebook.cli._common import print_json
from joulebook.models.hardware import accelerator_frame


def register(sub) -> None:
    p = sub.add_parser("regions", help="list the regions (intensity, price, PUE, time zone)")
    p.add_argument("--kind", choices=["country", "us-zone", "cloud"], help="only this kind")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_regions)
    a = sub.add_parser("accelerators", help="list the accelerators (memory, bandwidth, power, peaks)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_accelerators)


def _show(df, as_json: bool) -> int:
    if as_json:
        print_json({"rows": df.astype(object).where(pd.notna(df), None).to_dict(orient="records")})
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
            print(df.to_string(index=False))
    return 0


def run_regions(args) -> int:
    df = data.regions_frame()
    if args.kind:
        df = df[df["kind"] == args.kind]
    return _show(df, args.json)


def run_accelerators(args) -> int:
    return _show(accelerator_frame(), args.json)

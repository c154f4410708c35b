"""``joulebook validate``: every sourced measurement in data/validation against the model, and how far to trust it."""

from __future__ import annotations

from joulebook.cli._common import fmt, print_json
from joulebook.core import format as display_format
from joulebook.models import modelcheck


def register(sub) -> None:
    p = sub.add_parser(
        "validate", help="the model against sourced measurements (fit and check cases)",
        description="Run every case of data/validation: the command it stands for, model against measured, the "
                    "ratio, whether the low-high range covers the measurement, and per family the median and worst "
                    "|ln ratio| and the coverage, fit and check cases apart.")
    p.add_argument("--family", action="append", default=[], metavar="F",
                   help="only this family (repeatable), e.g. training_runs, inference_serving, probe_decode")
    p.add_argument("--role", choices=("fit", "check"), help="only fitting cases or only check cases")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _yes(v) -> str:
    return display_format.text(v if display_format.is_missing(v) else bool(v))


def run(args) -> int:
    v = modelcheck.validate(args.family or None, args.role)
    if args.json:
        print_json(v.to_dict())
        return 0
    for fam in v.families:
        g = v.cases[v.cases["family"] == fam]
        if g.empty:
            continue
        print(f"{fam}: {modelcheck.FAMILY_TITLES.get(fam, fam)}")
        for r in g.to_dict(orient="records"):
            head = f"  [{r['role']}] {r['case_id']}  {r['quantity']}: measured {fmt(r['measured'])} {r['unit']}"
            if r["status"] == modelcheck.STATUS_OK:
                print(f"{head}\n      model {fmt(r['model'])} [{fmt(r['low'])} .. {fmt(r['high'])}]  "
                      f"ratio {fmt(r['ratio'])}  covered {_yes(r['covered'])}")
            else:
                print(f"{head}\n      not evaluable: {r['reason']}")
            if r["command"]:
                print(f"      $ {r['command']}")
        print()
    print(f"Summary (|ln ratio| as a factor; coverage = share of measurements inside model low-high; "
          f"band = within x{v.band:g}):")
    cols = ("family", "role", "n", "median", "worst", "worst case", "median ratio", "coverage", "band")
    rows = [(s["family"], s["role"], f"{s['n_evaluated']}/{s['n_cases']}", _x(s["median_factor"]),
             _x(s["worst_factor"]), s["worst_case"] or display_format.MISSING, fmt(s["median_ratio"]), _p(s["coverage"]),
             _p(s["within_band"])) for s in v.summary.to_dict(orient="records")]
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows, strict=False)]
    for line in (cols, *rows):
        print("  " + "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    print("assumptions of the case mappings:")
    for a in modelcheck.ASSUMPTIONS:
        if a["applies_to"] in v.families:
            print(f"  {a['name']} = {a['value']} {a['unit']}  [{a['applies_to']}] {a['note']}")
    return 0


def _x(v) -> str:
    return display_format.MISSING if display_format.is_missing(v) else f"×{display_format.number(v)}"


def _p(v) -> str:
    return display_format.percent(v)

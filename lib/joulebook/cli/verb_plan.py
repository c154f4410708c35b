"""``joulebook plan``: where and when to run a job (regions ranked, best start times in local and team time).

    joulebook plan --energy-kwh 5000 --hours 48 --regions us-va,us-ca,se,de,sg --tz America/New_York \\
        [--residency EU,USA] [--objective emissions|cost|weighted] [--month 7] [--json]

The energy is IT energy (before PUE); each region's PUE is applied (``--pue 1``
if the energy is already facility energy).
"""

from __future__ import annotations

import pandas as pd

from joulebook.cli._common import fmt, print_json
from joulebook.core.format import MISSING
from joulebook.core.validate import number
from joulebook.models import planning


def register(sub) -> None:
    p = sub.add_parser("plan", help="rank regions for a job and find the best start time in each",
                       description="Rank candidate regions for a job of given IT energy and duration: emissions, "
                                   "electricity cost, water, PUE, carbon-price line, and the best start time in "
                                   "each region in local time and in the team's time zone.")
    p.add_argument("--energy-kwh", required=True, metavar="KWH", help="IT energy of the job in kWh (before PUE)")
    p.add_argument("--hours", required=True, metavar="H", help="duration of the job in hours")
    p.add_argument("--regions", required=True, metavar="IDS", help="comma-separated region ids (joulebook regions)")
    p.add_argument("--tz", default="UTC", metavar="IANA", help="the team's time zone (default UTC)")
    p.add_argument("--residency", default=None, metavar="CODES",
                   help="jurisdictions where the data may be processed: ISO-3 codes or EU, EEA, US (comma-separated)")
    p.add_argument("--objective", default="emissions", choices=["emissions", "cost", "weighted"],
                   help="what to minimise (weighted: electricity cost + emissions x internal carbon price)")
    p.add_argument("--month", default="7", metavar="M", help="month of the run, 1-12 (default 7)")
    p.add_argument("--day", default="15", metavar="D", help="day of the month of the run (default 15)")
    p.add_argument("--year", default="2026", metavar="Y", help="year of the run (default 2026)")
    p.add_argument("--pue", default=None, metavar="X", help="one PUE for every region (default: each region's)")
    p.add_argument("--carbon-price-usd-per-t", default=None, metavar="USD",
                   help="internal carbon price for --objective weighted (default: EU ETS average)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    energy = number("energy_kwh", args.energy_kwh, strictly_positive=True)
    hours = number("hours", args.hours, strictly_positive=True)
    month = number("month", args.month, minimum=1, maximum=12, integer=True)
    day = number("day", args.day, minimum=1, maximum=31, integer=True)
    year = number("year", args.year, minimum=1970, maximum=2100, integer=True)
    plan = planning.compare(energy, args.regions, hours=hours, team_tz=args.tz, residency=args.residency,
                            objective=args.objective, month=int(month), day=int(day), year=int(year),
                            pue=args.pue, internal_carbon_price_usd_per_t=args.carbon_price_usd_per_t)
    if args.json:
        print_json(plan.to_dict())
        return 0
    _print_human(plan)
    return 0


def _print_human(plan) -> None:
    t = plan.table
    print(f"Plan: {plan.job.it_energy_kwh:,.0f} kWh IT energy over {plan.job.hours:g} h, "
          f"{plan.year}-{plan.month:02d}-{plan.day:02d}, objective {plan.objective}, team clock {plan.team_tz}")
    header = ["rank", "region", "best start (local)", f"best start ({plan.team_tz})", "kg CO2e", "USD", "water L",
              "PUE", "carbon line"]
    rows = []
    for _, r in t.iterrows():
        carbon = "-" if pd.isna(r["carbon_price_scheme"]) else f"{fmt(r['carbon_cost_usd'], 'USD')} ({r['carbon_price_scheme']})"
        rows.append([str(int(r["rank"])) if r["allowed"] else "excl.", r["region"], r["best_start_local"],
                     r["best_start_team"], fmt(r["emissions_kg"]), fmt(r["cost_usd"]), fmt(r["water_l"]),
                     f"{r['pue']:.2f}", carbon])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for line in [header, *rows]:
        print("  " + "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    c = plan.constraint
    if c["residency"]:
        extra_usd = MISSING if c["extra_cost_usd"] is None else fmt(c["extra_cost_usd"], "USD")
        print(f"Residency {','.join(c['residency'])}: removed {', '.join(c['removed']) or 'none'}; best allowed "
              f"{c['best_allowed']} vs best overall {c['best_overall']}: {fmt(c['extra_emissions_kg'], 'kg CO2e')}, "
              f"{extra_usd}")
    for n in plan.notes:
        print(f"note: {n}")

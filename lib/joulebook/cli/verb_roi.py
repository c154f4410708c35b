"""``joulebook roi``: does moving a fleet's work to newer accelerators pay back (owned and cloud)?"""

from __future__ import annotations

from joulebook.cli._common import fmt, number_arg, print_json, print_table, whole
from joulebook.models.roi import switch_roi


def register(sub) -> None:
    p = sub.add_parser("roi", help="break-even of switching accelerators (e.g. A100 -> H100), owned and cloud",
                       description="Monthly cost before and after moving a fleet's work to other accelerators, the "
                                   "switch cost and the break-even month, for owned hardware (old fleet paid for: "
                                   "energy + operations; switch = purchase + migration - resale) and for cloud "
                                   "on-demand rental (switch = migration).")
    p.add_argument("--from", dest="from_accelerator", default="a100-sxm4-80gb", help="today's accelerator")
    p.add_argument("--to", dest="to_accelerator", default="h100-sxm", help="the accelerator to switch to")
    p.add_argument("--count", type=number_arg, default=64, help="accelerators in today's fleet")
    p.add_argument("--to-count", type=number_arg, help="accelerators after the switch (default: the fewest with today's capacity)")
    p.add_argument("--utilisation", type=number_arg, default=0.7, help="share of the month today's fleet is busy (0-1]")
    p.add_argument("--precision-from", default="bf16", help="training precision today")
    p.add_argument("--precision-to", default="bf16", help="training precision after the switch")
    p.add_argument("--region", default="us-va", help="region: tariff, PUE, grid intensity (see `joulebook regions`)")
    p.add_argument("--price-usd-per-kwh", type=number_arg, help="electricity tariff override")
    p.add_argument("--migration-usd", type=number_arg, default=0.0, help="one-off cost of porting and validating the work")
    p.add_argument("--resale-fraction", type=number_arg, default=0.0, help="share of the old fleet's price recovered (owned)")
    p.add_argument("--operations-share-per-year", type=number_arg,
                   help="yearly operations cost as a share of purchase price (default 0.10, a labelled assumption)")
    p.add_argument("--horizon-months", type=number_arg, help="months within which the switch must pay back (default: life)")
    p.add_argument("--cloud-provider", default=None,
                   help="provider whose full-VM prices are compared for both accelerators (default: any provider "
                        "listing both on the same basis and date class)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    res = switch_roi(
        from_accelerator=args.from_accelerator, to_accelerator=args.to_accelerator, from_count=whole("count", args.count),
        to_count=whole("to-count", args.to_count), utilisation=args.utilisation,
        precision_from=args.precision_from, precision_to=args.precision_to, region=args.region,
        price_usd_per_kwh=args.price_usd_per_kwh, migration_usd=args.migration_usd,
        resale_fraction=args.resale_fraction, operations_share_per_year=args.operations_share_per_year,
        horizon_months=whole("horizon-months", args.horizon_months), cloud_provider=args.cloud_provider)
    if args.json:
        print_json(res.to_dict())
        return 0
    print(f"{res.from_count} x {res.from_accelerator} busy {res.utilisation:.0%} -> {res.to_count} x "
          f"{res.to_accelerator} busy {res.to_utilisation:.0%} ({res.speed_ratio:.2f}x the rate each)")
    if res.from_cloud is not None and res.to_cloud is not None:
        print(f"cloud prices (like for like): {res.from_cloud.detail}; {res.to_cloud.detail}")
    else:
        print("cloud prices: no like-for-like pair (same provider, basis, option, dates at most a year apart)")
    m = res.monthly.set_index(["mode", "option"])["total_usd"]
    for mode, be in (("owned", res.owned), ("cloud", res.cloud)):
        when = f"month {be.month}" if be.month is not None else "never"
        rows = [("stay (USD/month)", fmt(m[(mode, "stay")])), ("switch (USD/month)", fmt(m[(mode, "switch")])),
                ("switch cost (USD)", fmt(be.switch_cost_usd)), ("savings (USD/month)", fmt(be.savings_usd_per_month)),
                ("break-even", when), ("why", be.reason)]
        print_table(rows, title=f"{mode} (horizon {res.horizon_months} months):")
    return 0

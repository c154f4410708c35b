"""``joulebook sweep SPEC.toml --out DIR``: a crossed grid of scenarios, in partitions, locally or on Dask."""

from __future__ import annotations

from joulebook.cli._common import fmt, print_json
from joulebook.core.errors import InputError
from joulebook.sweeps import engine as sweep


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="evaluate a grid of training or inference scenarios into partitioned Parquet",
        description="Cross the axes of a TOML spec (or read a scenarios file), evaluate the scenarios in bounded "
                    "partitions with the vectorized models and write part-*.parquet plus summary.json into --out. "
                    "A bad spec fails before any work (exit 2, nothing written).")
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep spec (see joulebook.sweeps.engine)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new, or the same sweep's with --resume)")
    p.add_argument("--cluster", metavar="WHERE",
                   help="local (Dask LocalCluster, one worker per core), local:N, or a scheduler address tcp://HOST:PORT; "
                        "default: local processes without Dask")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local processes without --cluster (default: one per core; 1 = this process)")
    p.add_argument("--resume", action="store_true", help="skip partitions already written by this spec")
    p.add_argument("--yes", action="store_true", help="run even when the grid exceeds the spec's max_scenarios")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs", f"must be >= 1, got {args.jobs}")
    spec = sweep.load_spec(args.spec)
    if args.yes:
        spec.max_scenarios = max(spec.max_scenarios, spec.n_scenarios)
    if spec.n_scenarios > spec.max_scenarios:
        raise InputError("max_scenarios", f"the grid has {spec.n_scenarios:,} scenarios, above max_scenarios = "
                                          f"{spec.max_scenarios:,} (raise it or pass --yes)")
    sweep.prepare_out_dir(spec, args.out, args.resume)
    if args.cluster is not None:
        sweep.check_cluster(args.cluster)
    res = sweep.run_sweep(spec, args.out, cluster=args.cluster, jobs=args.jobs, resume=args.resume,
                          progress=not args.json)
    if args.json:
        print_json(res.summary)
        return 0
    s = res.summary
    print(f"{res.scenarios:,} {spec.model} scenarios in {res.partitions} partitions -> {res.out_dir}")
    print(f"evaluated {res.evaluated} partitions ({res.evaluated_scenarios:,} scenarios), "
          f"skipped {res.skipped} already written; {res.duration_s:.1f} s "
          f"({res.evaluated_scenarios / max(res.duration_s, 1e-9):,.0f} scenarios/s)")
    for c, st in s["columns"].items():
        print(f"  {c}: min {fmt(st['min'])}  median~ {fmt(st['median_approx'])}  max {fmt(st['max'])}"
              if st["min"] is not None else f"  {c}: no values")
    print(f"best by {s['best']['objective']}: {len(s['best']['rows'])} group(s); see {res.out_dir / sweep.SUMMARY}")
    return 0

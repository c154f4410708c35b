"""`joulebook plan`: JSON contract, ranked regions, start times in two clocks, exit codes."""

import json

import pytest

from joulebook.cli import main
from joulebook.models import planning

ISSUE_ARGS = ["plan", "--energy-kwh", "5000", "--hours", "48", "--regions", "us-va,us-ca,se,de,sg",
              "--tz", "America/New_York"]


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_issue_command_prints_one_json_object_with_ranked_regions(capsys):
    code, out, err = run(ISSUE_ARGS + ["--json"], capsys)
    assert code == 0 and err == ""
    d = json.loads(out)  # exactly one object: json.loads rejects trailing text
    assert d["team_tz"] == "America/New_York" and d["job"]["it_energy_kwh"] == 5000 and d["job"]["hours"] == 48
    regions = d["regions"]
    assert [r["region"] for r in regions][0] == "se"
    assert sorted(r["region"] for r in regions) == sorted(["us-va", "us-ca", "se", "de", "sg"])
    assert [r["rank"] for r in regions] == [1, 2, 3, 4, 5]
    em = [r["emissions_kg"] for r in regions]
    assert em == sorted(em)
    for r in regions:
        assert r["best_start_local"] and r["best_start_team"] and r["best_start_utc"].endswith("Z")
        assert r["best_start_team_iso"].endswith(("-04:00", "-05:00"))
    by = {r["region"]: r for r in regions}
    assert by["us-va"]["carbon_line"] is None and by["de"]["carbon_line"]["scheme"] == "EU ETS"
    assert "already embedded" in by["de"]["carbon_line"]["note"]
    # the library gives the same numbers
    plan = planning.compare(5000, ["us-va", "us-ca", "se", "de", "sg"], hours=48, team_tz="America/New_York")
    assert em == pytest.approx(list(plan.allowed["emissions_kg"]))


def test_residency_and_objective(capsys):
    code, out, _ = run(ISSUE_ARGS + ["--residency", "EU,USA", "--objective", "cost", "--month", "4", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["residency"] == ["EU", "USA"] and d["objective"] == "cost"
    assert [r["region"] for r in d["excluded"]] == ["sg"] and d["excluded"][0]["rank"] is None
    costs = [r["cost_usd"] for r in d["regions"]]
    assert costs == sorted(costs)
    assert d["residency_constraint"]["removed"] == ["sg"]
    assert d["date"] == "2026-04-15"


def test_binding_residency_reports_its_cost(capsys):
    code, out, _ = run(ISSUE_ARGS + ["--residency", "USA", "--json"], capsys)
    d = json.loads(out)
    c = d["residency_constraint"]
    assert code == 0 and c["binding"] and c["best_overall"] == "se" and c["extra_emissions_kg"] > 0


def test_human_table(capsys):
    code, out, err = run(ISSUE_ARGS + ["--residency", "USA"], capsys)
    assert code == 0 and err == ""
    assert "best start (America/New_York)" in out and "excl." in out and "Residency USA" in out
    assert "note:" in out and "us-ca" in out


@pytest.mark.parametrize("extra,needle", [
    (["--residency", "EU", "--regions", "us-va,sg"], "residency: no candidate region is allowed"),
    (["--residency", "EUU"], "residency: unknown jurisdiction 'EUU'"),
    (["--tz", "America/NewYork"], "close matches: America/New_York"),
    (["--energy-kwh", "-5"], "energy_kwh"),
    (["--hours", "abc"], "hours"),
    (["--regions", "us-vaa"], "unknown region 'us-vaa'"),
    (["--month", "13"], "month"),
    (["--objective", "carbon"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(extra, needle, capsys):
    args = list(ISSUE_ARGS)
    for i in range(0, len(extra), 2):  # replace or append options
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    code, out, err = run(args + ["--json"], capsys)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1

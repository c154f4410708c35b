"""Hardening of the report site (issue 12): no injected markup, nothing lost, one line instead of a traceback.

* every value that reaches a page is escaped: parameters, titles, error messages, links, Markdown
  outputs, table captions (the index, report pages, failure pages, rejected and missing-notebook pages);
* reports.toml may only name functions inside joulebook;
* a bad parameter value stops the build before any kernel starts and changes nothing;
* two builds into one folder: the second refuses with one line (lock beside the folder);
* an unwritable --out is one line, not a traceback; files are written with the usual mode.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from joulebook.cli import main
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.io import atomic_write_text
from joulebook.site import config as cfg
from joulebook.site import index as site
from joulebook.site import runner
from joulebook.site.render import SITE_CSS, render_html

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FIXTURE_NB = Path(__file__).parent / "fixtures" / "fixture_report.ipynb"

# each payload carries a marker so a live copy is recognised wherever it lands
PAYLOADS = ["<script>alert('jbx1')</script>", "<svg/onload=alert('jbx2')>", "<img src=x onerror=alert('jbx3')>",
            "\"><b onmouseover=alert('jbx4')>x</b>", "`<iframe src=javascript:alert('jbx5')>`"]
EVIL = " ".join(PAYLOADS)


class LiveMarkup(HTMLParser):
    """Collects what a browser would run: an event-handler attribute, a javascript: URL, an svg or iframe
    element, or a script element holding a payload marker (an escaped payload inside an attribute value or
    a text node is inert and not reported)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") or value.startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value[:40]}>")
        if tag in ("svg", "iframe"):
            self.found.append(f"<{tag}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "jbx" in data:
            self.found.append(f"<script>{data[:60]}")


def live_markup(page: str) -> list[str]:
    p = LiveMarkup()
    p.feed(page)
    p.close()
    return p.found


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_the_checker_sees_a_live_payload():
    """The detector itself: raw payloads are found, escaped ones are not."""
    assert len(live_markup(EVIL)) >= 4
    escaped = EVIL.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert live_markup(f"<p>{escaped}</p>") == []


# --------------------------------------------------------------------------- rendering (no kernel)

def _notebook_with_outputs() -> nbformat.NotebookNode:
    nb = nbformat.read(str(FIXTURE_NB), as_version=4)
    cell = nb.cells[2]
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": f"Region **{EVIL}** and [a link](javascript:alert('jbx6'))"}),
        nbformat.v4.new_output("stream", name="stdout", text=EVIL),
        nbformat.v4.new_output("error", ename="RuntimeError", evalue=EVIL, traceback=[f"RuntimeError: {EVIL}"]),
    ]
    nb.cells.append(nbformat.v4.new_markdown_cell(f"A markdown cell {EVIL}\n\n```mermaid\n{EVIL}\n```"))
    return nb


@pytest.mark.parametrize("with_code, failed", [(False, False), (True, False), (False, True)])
def test_every_value_a_page_shows_is_escaped(with_code, failed):
    page = render_html(_notebook_with_outputs(), title=f"Title {EVIL}", with_code=with_code, failed=failed,
                       error=f"RuntimeError: {EVIL}", links=[(f"x{PAYLOADS[3]}", f"text {EVIL}")],
                       index_href=f"../{PAYLOADS[3]}", details=f"details {EVIL}",
                       rerun=[(f"label {EVIL}", f"joulebook reports build --only {EVIL}")])
    assert live_markup(page) == []
    assert "&lt;script&gt;alert(" in page  # shown as text, not dropped
    assert 'href="../site.css"' in page and "<style" not in page  # nbconvert's CSS is not inlined
    assert page.count('<details class="jb-rerun">') == 1
    if failed:
        assert "This report failed." in page and "details " in page


def test_table_caption_is_escaped(monkeypatch):
    import pandas as pd
    from IPython import display as ipd

    from joulebook.display import report

    shown = []
    monkeypatch.setattr(ipd, "display", lambda obj: shown.append(obj))
    report.table(pd.DataFrame({"region": [EVIL], "value": [1.0]}), caption=f"Caption {EVIL}")
    assert live_markup(shown[0].data) == []


def test_index_escapes_every_field():
    outcome = {"slug": "a", "id": "a", "title": f"T {EVIL}", "topic": f"Topic {EVIL}", "status": "ok",
               "page": f"a/report.html{PAYLOADS[3]}", "executed": "a/nb.ipynb", "metrics_file": "a/metrics.json",
               "matrix_values": {"region": EVIL},
               "metrics": {"title": f"M {EVIL}", "finding": f"F {EVIL}",
                           "key_figures": [{"label": EVIL, "value": EVIL, "unit": EVIL},
                                           {"label": "x", "value": 1.0, "unit": "kWh"}]}}
    failed = {**outcome, "slug": "b", "status": "failed", "error": f"RuntimeError: {EVIL}", "metrics": None}
    page = site.index_html([outcome, failed], stamp=f"Built {EVIL}", facts=f"commit {EVIL}")
    assert live_markup(page) == []
    assert f'href="{SITE_CSS}"' in page


# --------------------------------------------------------------------------- a whole build (executes notebooks)

EVIL_NB_SOURCE = [
    ('label = "x"  # text shown in the report', ["parameters"]),
    ("from joulebook.display import report\nreport.md(f'Prose for **{label}**.')", []),
    ("raise RuntimeError(label)", []),
]


def _evil_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# A notebook that fails with markup"))
    for src, tags in EVIL_NB_SOURCE:
        cell = nbformat.v4.new_code_cell(src)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))


def _toml(label: str) -> str:
    lit = json.dumps(label)
    return f"""
[[report]]
id = "fixture"
notebook = "fixture_report.ipynb"
title = "Fixture {{label}}"
topic = {lit}
[report.parameters]
label = {lit}
scale = 1.0

[[report]]
id = "evil"
notebook = "evil.ipynb"
title = "Evil {{label}}"
topic = "Broken"
[report.parameters]
label = {lit}

[[report]]
id = "rejected"
notebook = "fixture_report.ipynb"
title = "Rejected {{scael}}"
topic = "Broken"
[report.parameters]
scael = {lit}

[[report]]
id = "missing"
notebook = "missing.ipynb"
title = {json.dumps("Missing " + label)}
topic = "Broken"
"""


@pytest.mark.slow
def test_markup_through_every_parameter_and_error_path_never_goes_live(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    shutil.copy(FIXTURE_NB, conf_dir / FIXTURE_NB.name)
    _evil_notebook(conf_dir / "evil.ipynb")
    (conf_dir / "reports.toml").write_text(_toml(EVIL), encoding="utf-8")
    out = tmp_path / "site"
    old_mask = os.umask(0o022)
    try:
        result = runner.build(conf_dir / "reports.toml", out, progress=None)
    finally:
        os.umask(old_mask)
    status = {r.id: (r.status, r.failure) for r in result.reports}
    assert status == {"fixture": ("ok", None), "evil": ("failed", "cell"), "rejected": ("failed", "rejected"),
                      "missing": ("failed", "missing")}
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 5  # index + four report pages
    for p in pages:
        text = p.read_text(encoding="utf-8")
        assert live_markup(text) == [], p.relative_to(out)
    evil = (out / "evil" / "report.html").read_text(encoding="utf-8")
    assert "This report failed." in evil and "RuntimeError: &lt;script&gt;alert(" in evil
    assert "Prose for <strong>&lt;script&gt;" in evil  # Markdown still renders; its HTML does not
    assert "Not executed." in (out / "rejected" / "report.html").read_text(encoding="utf-8")
    # the label reaches the finding block, the index card and the re-run command: text everywhere
    fixture = (out / "fixture" / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in fixture[fixture.index('<section class="jb-finding">'):]
    assert "-r label " in fixture and "&lt;script&gt;alert(" in fixture[fixture.index('<details class="jb-rerun">'):]
    assert "&lt;script&gt;alert(" in (out / "index.html").read_text(encoding="utf-8")
    # one stylesheet per site, linked from every page; the site is readable like any new file (umask 022)
    assert (out / SITE_CSS).is_file()
    assert all('site.css"' in p.read_text(encoding="utf-8") for p in pages)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf", "site"]  # no lock file or temp folder left
    for p in out.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p


# --------------------------------------------------------------------------- reports.toml: metrics_function

@pytest.mark.parametrize("mf", ["os:system", "subprocess:run", "joulebookx.evil:fn", "joulebook.models.roi:__import__",
                                "joulebook.models.roi", "joulebook.models.roi:report_metrics; os:system"])
def test_metrics_function_must_be_inside_joulebook(tmp_path, capsys, mf):
    text = (NOTEBOOKS / "reports.toml").read_text(encoding="utf-8")
    old = 'metrics_function = "joulebook.stories.hardware_roi:metrics_for"'
    assert old in text
    text = text.replace(old, f"metrics_function = {json.dumps(mf)}")
    conf = NOTEBOOKS / "reports.toml"
    path = tmp_path / "reports.toml"
    path.write_text(text.replace('notebook = "', f'notebook = "{conf.parent}/'), encoding="utf-8")
    with pytest.raises(InputError, match="metrics_function: must name a function inside joulebook"):
        cfg.load_config(path)
    assert main(["reports", "build", "--config", str(path), "--out", str(tmp_path / "s")]) == 2
    assert "inside joulebook" in one_line_error(capsys)
    assert not (tmp_path / "s").exists()


def test_shipped_metrics_functions_are_accepted():
    assert all(s.metrics_function.startswith("joulebook.") for s in cfg.load_config(NOTEBOOKS / "reports.toml").reports
               if s.metrics_function)


# --------------------------------------------------------------------------- bad values: exit 2, nothing changed

def _old_site(out: Path) -> dict[str, bytes]:
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"generator": runner.GENERATOR, "reports": []}), encoding="utf-8")
    (out / "index.html").write_text("<p>the old site</p>", encoding="utf-8")
    (out / "training_energy--region-se").mkdir()
    (out / "training_energy--region-se" / "report.html").write_text("good page", encoding="utf-8")
    return _snapshot(out)


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out.parent).as_posix(): p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}


@pytest.fixture
def no_kernel(monkeypatch):
    """Any attempt to execute a notebook fails the test."""
    import papermill

    def must_not_run(*a, **k):  # pragma: no cover - the point is that it is never called
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", must_not_run)


@pytest.mark.parametrize("args, needle", [
    (["--region", "nowhere"], "--region: unknown region 'nowhere'"),
    (["--only", "training_energy", "--region", "<script>alert(1)</script>"], "--region: unknown region"),
    (["--region", ""], "--region: expected a region id"),
    (["--region", "  "], "--region: expected a region id"),
    (["--only", ""], "--only: empty report id"),
    (["--only", "training_energy,"], "--only: empty report id"),
])
def test_bad_build_arguments_exit_2_and_change_nothing(tmp_path, capsys, no_kernel, args, needle):
    out = tmp_path / "site"
    before = _old_site(out)
    rc = main(["reports", "build", "--config", str(NOTEBOOKS / "reports.toml"), "--out", str(out), *args])
    line = one_line_error(capsys)
    assert rc == 2 and needle in line, line
    assert _snapshot(out) == before  # no lock file, no temp folder, nothing replaced


def test_every_shipped_report_passes_the_up_front_checks():
    """The name-based look-ups accept what reports.toml ships (no false alarm on counts such as
    ``baseline_accelerators = 32``), including each report's test parameters."""
    from joulebook.site import checks

    conf = cfg.load_config(NOTEBOOKS / "reports.toml")
    for job in conf.jobs():
        checks.check_parameters(job.slug, job.parameters)
        checks.check_parameters(job.slug, job.spec.test_parameter_set())
    with pytest.raises(UnknownNameError, match="x: accelerators: unknown accelerator"):
        checks.check_parameters("x", {"baseline_accelerators": 32, "accelerators": ["h100-sxm", "nope"]})


def test_region_nowhere_lists_close_matches(tmp_path, no_kernel):
    with pytest.raises(UnknownNameError) as err:
        runner.build(NOTEBOOKS / "reports.toml", tmp_path / "site", region="us-vaa", progress=None)
    assert "us-va" in err.value.close_matches and err.value.parameter == "--region"


@pytest.mark.parametrize("report, key, value, needle", [
    ("region_time_planner", "team_tz", "<svg/onload=alert(2)>", "region_time_planner: team_tz: unknown time zone"),
    ("measurement_calibration", "measurement_file", "runs/<img src=x onerror=alert(3)>.jsonl",
     "measurement_calibration: measurement_file: runs/<img"),
    ("hardware_roi", "to_accelerator", "h100-sxmm", "hardware_roi: to_accelerator: unknown accelerator 'h100-sxmm'"),
    ("federated_tradeoffs", "client_regions", {"us-ca": 0.5, "mars": 0.5}, "client_regions: unknown region 'mars'"),
    ("precision_tuning", "accelerators", ["h100-sxm", "b200x"], "precision_tuning: accelerators: unknown accelerator"),
    ("compression_small", "model", "llama-9", "compression_small: model: unknown model 'llama-9'"),
    ("compression_70b", "precision", "fp9", "compression_70b: precision: unknown precision 'fp9'"),
])
def test_bad_value_in_reports_toml_stops_the_build_before_any_kernel(tmp_path, capsys, no_kernel, report, key, value,
                                                                    needle):
    config = cfg.load_config(NOTEBOOKS / "reports.toml")
    spec = config.spec(report)
    text = (NOTEBOOKS / "reports.toml").read_text(encoding="utf-8").replace('notebook = "', f'notebook = "{NOTEBOOKS}/')
    marker = f'id = "{report}"'
    head, tail = text.split(marker, 1)
    own, sep, others = tail.partition("\n[[report]]")
    if "[report.parameters]" not in own:  # the block keeps every notebook default: give it an overrides table
        own = own.rstrip("\n") + "\n\n[report.parameters]\n"
    block, rest = own.split("[report.parameters]", 1)
    lit = json.dumps(value) if not isinstance(value, dict) else \
        "{ " + ", ".join(f"{json.dumps(k)} = {v}" for k, v in value.items()) + " }"
    lines = [ln for ln in rest.split("\n") if not ln.startswith(f"{key} =")]
    rest = f"\n{key} = {lit}" + "\n".join(lines)
    path = tmp_path / "reports.toml"
    path.write_text(head + marker + block + "[report.parameters]" + rest + sep + others, encoding="utf-8")
    assert key in spec.parameters or key in cfg.load_config(path).spec(report).parameters
    out = tmp_path / "site"
    before = _old_site(out)
    rc = main(["reports", "build", "--config", str(path), "--out", str(out), "--only", report])
    line = one_line_error(capsys)
    assert rc == 2 and needle in line, line
    assert _snapshot(out) == before


# --------------------------------------------------------------------------- one build per folder

def test_second_build_into_a_locked_folder_refuses_with_one_line(tmp_path, capsys, no_kernel):
    conf = tmp_path / "conf" / "reports.toml"
    conf.parent.mkdir()
    shutil.copy(FIXTURE_NB, conf.parent / FIXTURE_NB.name)
    conf.write_text('[[report]]\nid = "fixture"\nnotebook = "fixture_report.ipynb"\ntitle = "F"\ntopic = "T"\n',
                    encoding="utf-8")
    out = tmp_path / "site"
    before = _old_site(out)
    with site.locked(out.resolve()):
        with pytest.raises(site.SiteBusyError, match=f"pid {os.getpid()}"):
            runner.build(conf, out, progress=None)
        assert main(["reports", "build", "--config", str(conf), "--out", str(out)]) == 1
        assert "another `joulebook reports build`" in one_line_error(capsys)
    assert {k: v for k, v in _snapshot(out).items() if not k.endswith(".lock")} == before
    assert not site.lock_path(out.resolve()).exists()  # removed by its holder


def test_lock_dies_with_its_holder(tmp_path):
    out = tmp_path / "site"
    code = ("import sys, time; from pathlib import Path; from joulebook.site import index as site\n"
            f"with site.locked(Path({str(out)!r})):\n    print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(site.SiteBusyError, match=f"pid {proc.pid}"), site.locked(out):
            pass
        proc.kill()  # kill -9: the kernel releases the flock with the process
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while True:
            try:
                with site.locked(out):
                    break
            except site.SiteBusyError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()


# --------------------------------------------------------------------------- unwritable output: one line

@pytest.mark.parametrize("where", ["/proc/rsx", "/proc/self/rsx/site", "FILE/site"])
def test_unwritable_out_is_one_line(tmp_path, capsys, no_kernel, where):
    if where.startswith("FILE"):
        (tmp_path / "FILE").write_text("a file, not a folder", encoding="utf-8")
        where = str(tmp_path / where)
    rc = main(["reports", "build", "--config", str(NOTEBOOKS / "reports.toml"), "--out", where,
               "--only", "training_energy--region-se"])
    line = one_line_error(capsys)
    assert rc == 2 and "--out" in line, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_parent_is_one_line(tmp_path, capsys, no_kernel):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        rc = main(["reports", "build", "--config", str(NOTEBOOKS / "reports.toml"), "--out", str(parent / "site"),
                   "--only", "training_energy--region-se"])
        assert rc == 2 and "--out" in one_line_error(capsys)
    finally:
        parent.chmod(0o755)


def test_parent_refusing_writes_is_one_line_even_as_root(tmp_path, capsys, no_kernel, monkeypatch):
    """What a read-only parent does to the build (EACCES when the temporary site is made), simulated."""
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner.tempfile, "mkdtemp", refuse)
    out = tmp_path / "site"
    before = _old_site(out)
    rc = main(["reports", "build", "--config", str(NOTEBOOKS / "reports.toml"), "--out", str(out),
               "--only", "training_energy--region-se"])
    line = one_line_error(capsys)
    assert rc == 2 and "--out: cannot write the site folder" in line and "Permission denied" in line, line
    assert _snapshot(out) == before


# --------------------------------------------------------------------------- file mode

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_respects_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == mode
    assert not hasattr(site, "make_readable")  # no chmod pass over the site to undo mkstemp's 0600

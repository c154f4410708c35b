"""The batch runner behind ``joulebook reports build`` (and ``make report``).

For each report of ``reports.toml`` (after matrix expansion and ``--only`` /
``--region`` selection):

1. compute its cache key: the notebook's bytes, its parameters, the library
   source (every ``lib/joulebook/**/*.py``), the data fingerprint
   (:func:`joulebook.data.fingerprint`) and the versions of the packages that
   shape the numbers. A report whose key matches the previous site's manifest
   and which succeeded there is reused as it is (``--force`` re-executes);
2. check its parameter names against the notebook's ``parameters`` cell
   (rejected before any kernel starts); before that, every parameter *value* of
   every selected report that names something (region, accelerator, model,
   precision, time zone, measurement file) is looked up through the library
   (:mod:`joulebook.site.checks`): a bad one stops the build with one line
   (exit 2) before the site folder is touched, as do ``--only ''`` and ``--region ''``;
3. execute it (:func:`joulebook.site.execute.execute_notebook`) in a scratch
   folder, in a pool of ``--jobs`` processes (never threads);
4. check its ``metrics.json`` and render its page (code-free unless
   ``--with-code``; a failed report is rendered with code and traceback).

The site is written into a hidden temporary folder beside ``--out`` and
swapped into place at the end (:func:`joulebook.site.index.swap_into_place`),
so an interrupted build leaves the previous site untouched. One build at a time
writes a site folder: the build holds a lock beside it (``.<name>.lock``,
:func:`joulebook.site.index.locked`) and a second build into the same folder
refuses with one line. One failing report does not stop the others; the build
then exits 1.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import joulebook
from joulebook import __version__, data
from joulebook.core.errors import InputError, UnknownNameError
from joulebook.core.io import atomic_write_json, atomic_write_text, current_umask
from joulebook.display.report import git_head
from joulebook.site import checks, forkserver
from joulebook.site import index as site
from joulebook.site.cluster import execute as cluster_execute  # issue 13: Dask executor (--cluster)
from joulebook.site.config import DEFAULT_CONFIG, Config, ReportJob, load_config, select
from joulebook.site.execute import check_parameters, execute_notebook, notebook_parameters, validate_metrics
from joulebook.site.render import (
    RENDER_VERSION,
    SITE_CSS,
    finding_headline,
    missing_page,
    render_file,
    render_html,
    rerun_commands,
    site_css,
    warm_exporter,
)

CACHE_VERSION = "1"  # bump when the runner changes what an executed report contains
MANIFEST = "manifest.json"
GENERATOR = "joulebook reports"
PAGE = "report.html"
KEY_PACKAGES = ("numpy", "pandas", "matplotlib", "seaborn", "ipykernel", "papermill", "nbclient", "nbformat",
                "nbconvert", "jupyter_client")


@dataclass
class ReportOutcome:
    """One report of a build, as recorded in ``manifest.json``."""

    id: str
    slug: str
    label: str
    title: str
    topic: str
    notebook: str
    parameters: dict[str, Any]
    matrix_values: dict[str, Any]
    status: str  # ok | failed
    failure: str | None = None  # cell | metrics | runner | rejected | missing (None when ok)
    reused: bool = False
    carried_over: bool = False
    duration_s: float = 0.0
    error: str | None = None
    cache_key: str = ""
    render_key: str = ""
    page: str = ""
    executed: str | None = None
    metrics_file: str | None = None
    metrics: dict[str, Any] | None = None
    attempts: int = 0
    notes: list[str] = field(default_factory=list)
    finding: str | None = None  # the headline of the page's finding block (None: the page shows none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BuildResult:
    out_dir: Path
    reports: list[ReportOutcome]
    duration_s: float
    manifest: dict[str, Any]

    @property
    def failed(self) -> list[ReportOutcome]:
        return [r for r in self.reports if r.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def executed(self) -> list[ReportOutcome]:
        """Reports executed in this build (not reused, not carried over)."""
        return [r for r in self.reports if not r.reused and not r.carried_over and r.attempts > 0]

    @property
    def index_path(self) -> Path:
        return self.out_dir / "index.html"


# --------------------------------------------------------------------------- keys and facts

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_hash() -> str:
    """Hash of the library source (every ``*.py`` under the installed ``joulebook`` package)."""

    root = Path(joulebook.__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "joulebook": __version__}
    for name in KEY_PACKAGES:
        try:
            out[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_key(notebook_sha: str, parameters: dict[str, Any], lib_hash: str, data_fp: str,
              versions: dict[str, str]) -> str:
    return _sha(canonical({"v": CACHE_VERSION, "nb": notebook_sha, "p": parameters, "lib": lib_hash,
                           "data": data_fp, "pkg": versions}).encode())[:20]


def render_key(key: str, with_code: bool, title: str, versions: dict[str, str]) -> str:
    return _sha(canonical({"v": RENDER_VERSION, "k": key, "code": with_code, "t": title,
                           "nbconvert": versions.get("nbconvert")}).encode())[:20]


def build_stamp() -> str:
    """The build time (UTC), or ``SOURCE_DATE_EPOCH`` when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else datetime.now(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- one report (runs in a worker)

def _page_links(executed_name: str | None, has_metrics: bool) -> list[tuple[str, str]]:
    links = []
    if executed_name:
        links.append((executed_name, "notebook (.ipynb)"))
    if has_metrics:
        links.append(("metrics.json", "metrics.json"))
    return links


def run_report(task: dict[str, Any]) -> dict[str, Any]:
    """Execute, check and render one report into ``task['report_dir']``. Picklable; runs in a worker."""

    report_dir = Path(task["report_dir"])
    report_dir.mkdir(parents=True, exist_ok=True)
    nb_name = Path(task["notebook"]).name
    executed = report_dir / nb_name
    metrics_path = report_dir / "metrics.json"
    scratch = Path(tempfile.mkdtemp(prefix="jb-run-"))
    try:
        res = execute_notebook(task["notebook"], task["parameters"], scratch, timeout_s=task["timeout_s"],
                               output_path=executed, metrics_path=metrics_path, git_commit=task["git_commit"],
                               declared=task["declared"], kernel_server=task.get("kernel_server"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    status, error, failure = res.status, res.error, res.failure
    metrics = res.metrics
    if status == "ok":
        problems = validate_metrics(metrics)
        if problems:
            status, error, failure = "failed", "; ".join(problems), "metrics"
    if status != "ok" and metrics_path.exists():
        metrics_path.unlink()
        metrics = None
    title = (metrics or {}).get("title") or task["title"]
    render_file(executed, report_dir / PAGE, title=title, with_code=task["with_code"], failed=status != "ok",
                error=error, links=_page_links(nb_name, metrics is not None), rerun=task.get("rerun"))
    finding = finding_headline(executed) if status == "ok" and executed.is_file() else None
    return {"status": status, "error": error, "failure": failure, "duration_s": res.duration_s, "metrics": metrics,
            "attempts": res.attempts, "notes": res.notes, "executed": nb_name, "finding": finding,
            "metrics_file": "metrics.json" if metrics is not None else None}


def _rejected_page(task: dict[str, Any], message: str) -> None:
    """A page for a report that was not executed (bad parameters): its notebook as written, with the message.

    The message and the parameters go through the page template's escaped banner, never into Markdown.
    """

    report_dir = Path(task["report_dir"])
    report_dir.mkdir(parents=True, exist_ok=True)
    details = "Parameters requested:\n" + json.dumps(task["parameters"], indent=2, sort_keys=True, default=str)
    atomic_write_text(report_dir / PAGE, render_html(
        task["notebook"], title=task["title"], failed=True, error=message, failed_title="Not executed.",
        failed_note="The notebook below was not run; the message says why.", details=details))


# --------------------------------------------------------------------------- the build

@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _load_manifest(out_dir: Path) -> dict[str, Any] | None:
    p = out_dir / MANIFEST
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return m if m.get("generator") == GENERATOR else None


def _check_out_dir(out_dir: Path) -> None:
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError("--out", f"{out_dir} exists and is not a folder")
        if out_dir.is_dir() and any(out_dir.iterdir()) and _load_manifest(out_dir) is None:
            raise InputError("--out", f"{out_dir} is not empty and holds no joulebook site (no {MANIFEST}); "
                                      "refusing to replace it")
    except OSError as e:
        raise InputError("--out", f"cannot read the site folder {out_dir}: {e.strerror or e}") from None


def _print(line: str) -> None:
    print(line, flush=True)


def build(config_path: str | os.PathLike = DEFAULT_CONFIG, out_dir: str | os.PathLike = "reports", only=None,
          region: str | None = None, with_code: bool = False, jobs: int = 1, force: bool = False,
          progress: Callable[[str], None] | None = _print, cluster: str | None = None) -> BuildResult:
    """Build the report site. Returns a :class:`BuildResult`; ``.exit_code`` is 1 if any report failed.

    ``only``: a report id/slug or a list of them; ``region``: build region-taking
    reports for that region only. With either filter, reports of the previous site
    that were not selected are carried over unchanged.
    """
    t_start = time.perf_counter()
    if cluster is None or cluster == "local" or cluster.startswith("local:"):
        forkserver.shared()  # the kernels' fork server imports (about 2 s) while this process reads and checks
    progress = progress or (lambda line: None)
    only = _only_list(only)
    region = _region_arg(region)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError("--jobs", f"must be a whole number >= 1, got {jobs!r}")
    config: Config = load_config(config_path)
    out_dir = Path(out_dir).resolve()
    _check_out_dir(out_dir)

    declared_cache: dict[Path, dict[str, Any]] = {}

    def declared(spec_notebook: Path) -> dict[str, Any]:
        if spec_notebook not in declared_cache:

            declared_cache[spec_notebook] = notebook_parameters(spec_notebook)
        return declared_cache[spec_notebook]

    selected = select(config, only=only, region=region,
                      notebook_parameters=lambda spec: declared(spec.notebook) if spec.notebook.is_file() else {})
    if region is not None and not selected:
        raise InputError("--region", f"no selected report takes a region parameter (region {region!r})")
    for job in selected:  # every value of every selected report, before anything changes
        checks.check_parameters(job.slug, job.parameters)

    with site.locked(out_dir):  # one build per site folder at a time
        return _build_site(config, out_dir, selected, declared, only=only, region=region, with_code=with_code,
                           jobs=jobs, force=force, progress=progress, t_start=t_start, cluster=cluster)


def _only_list(only) -> list[str]:
    """``--only`` values as a list of ids; an empty one is an error (it would otherwise mean "everything")."""
    if only is None:
        return []
    items = [only] if isinstance(only, str) else list(only)
    out = []
    for item in items:
        parts = [p.strip() for p in str(item).split(",")]
        if not all(parts):
            raise InputError("--only", f"empty report id in {str(item)!r}; give report ids or slugs, e.g. "
                                       "--only training_energy")
        out.extend(parts)
    return out


def _region_arg(region: str | None) -> str | None:
    """``--region``: None (every region) or a region the library resolves; '' is an error, not "every region"."""
    if region is None:
        return None
    if not isinstance(region, str) or not region.strip():
        raise InputError("--region", f"expected a region id such as us-va, got {region!r}")
    try:
        data.region(region)
    except UnknownNameError as e:
        raise checks.renamed(e, "--region") from None
    return region


def _build_site(config: Config, out_dir: Path, selected: list[ReportJob], declared, *, only, region, with_code,
                jobs, force, progress, t_start, cluster: str | None = None) -> BuildResult:
    """The build proper, with the site folder locked and every parameter already checked."""
    site.clean_stale(out_dir)
    versions = package_versions()
    lib_hash = library_hash()
    data.fingerprint.cache_clear()  # the data may have changed since this process first looked
    data_fp = data.fingerprint()
    commit = git_head(config.path.parent)
    previous = _load_manifest(out_dir) or {}
    prev_reports = {r["slug"]: r for r in previous.get("reports", [])}
    repo_root = _project_root(config.path.parent)

    def rel(p: Path) -> str:
        try:
            return p.resolve().relative_to(repo_root).as_posix()
        except ValueError:
            return str(p)

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=site.temp_prefix(out_dir) + f"{os.getpid()}-", dir=out_dir.parent))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it owner-only; it becomes the published site
    except OSError as e:
        raise InputError("--out", f"cannot write the site folder {out_dir}: {e.strerror or e}") from None
    outcomes: dict[str, ReportOutcome] = {}
    order = [j.slug for j in selected]
    total = len(selected)
    done = 0

    def report_line(o: ReportOutcome, word: str) -> None:
        nonlocal done
        done += 1
        line = f"[{done}/{total}] {o.label} {word} {o.duration_s:.1f}s"
        if o.status != "ok" and o.error:
            line += f": {o.error.splitlines()[0][:200]}"
        progress(line)

    try:
        with _sigterm_as_interrupt():
            tasks: list[tuple[ReportOutcome, dict[str, Any]]] = []
            for job in selected:
                o = _outcome_for(job, rel)
                outcomes[job.slug] = o
                if not job.spec.notebook.is_file():
                    o.status, o.error, o.failure = "failed", f"notebook not found: {rel(job.spec.notebook)}", "missing"
                    _missing_notebook_page(tmp / job.slug, o)
                    report_line(o, "failed")
                    continue
                nb_sha = _sha(job.spec.notebook.read_bytes())
                o.cache_key = cache_key(nb_sha, job.parameters, lib_hash, data_fp, versions)
                o.render_key = render_key(o.cache_key, with_code, job.title, versions)
                prev = prev_reports.get(job.slug)
                if not force and prev and prev.get("cache_key") == o.cache_key and _reusable(prev) \
                        and (out_dir / job.slug / PAGE).is_file():
                    t0 = time.perf_counter()
                    _reuse(out_dir / job.slug, tmp / job.slug, prev, o, with_code, _rerun(o, config, rel))
                    o.duration_s = time.perf_counter() - t0
                    report_line(o, "unchanged" if o.status == "ok" else "failed (unchanged)")
                    continue
                task = {"notebook": str(job.spec.notebook), "parameters": job.parameters,
                        "report_dir": str(tmp / job.slug), "timeout_s": job.spec.timeout_s, "git_commit": commit,
                        "with_code": with_code, "title": job.title, "declared": None, "rerun": _rerun(o, config, rel)}
                try:

                    task["declared"] = declared(job.spec.notebook)
                    check_parameters(job.spec.notebook, job.parameters, task["declared"])
                except (InputError, UnknownNameError) as e:  # unknown parameter names: rejected before running
                    o.status, o.error, o.failure = "failed", str(e), "rejected"
                    (tmp / job.slug).mkdir(parents=True, exist_ok=True)
                    _rejected_page(task, str(e))
                    report_line(o, "rejected")
                    continue
                tasks.append((o, task))
            if cluster is None:
                _execute(tasks, jobs, report_line)
            else:  # issue 13: executions go to a Dask cluster (local, local:N, tcp://...); see reports/cluster.py
                if cluster == "local" or cluster.startswith("local:"):  # workers here: kernels from our server
                    _use_fork_server(tasks)
                cluster_execute(tasks, report_line, address=cluster, run=run_report, apply=_apply, fail=_failure)

            carried = []
            if only or region is not None:
                for slug, prev in prev_reports.items():
                    if slug in outcomes or not (out_dir / slug).is_dir():
                        continue
                    shutil.copytree(out_dir / slug, tmp / slug)
                    o = ReportOutcome(**{k: v for k, v in prev.items() if k in ReportOutcome.__dataclass_fields__})
                    o.carried_over, o.reused, o.duration_s = True, True, 0.0
                    carried.append(o)
            all_outcomes = [outcomes[s] for s in order] + carried
            all_outcomes = _config_order(all_outcomes, config)
            duration = time.perf_counter() - t_start
            manifest = _manifest(all_outcomes, config, rel, commit, versions, lib_hash, data_fp, with_code, jobs,
                                 force, only, region, duration)

            atomic_write_json(tmp / MANIFEST, manifest)
            atomic_write_text(tmp / SITE_CSS, site_css())
            facts = f"joulebook {__version__} · commit {commit} · data {data_fp}"
            atomic_write_text(tmp / "index.html", site.index_html([o.to_dict() for o in all_outcomes],
                                                                  stamp=f"Built {build_stamp()}", facts=facts))
            site.swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = BuildResult(out_dir=out_dir, reports=all_outcomes, duration_s=time.perf_counter() - t_start,
                         manifest=manifest)
    n_ok = sum(1 for o in outcomes.values() if o.status == "ok")
    n_reused = sum(1 for o in outcomes.values() if o.reused)
    n_failed = len(outcomes) - n_ok
    n_exec = sum(1 for o in outcomes.values() if o.attempts > 0)
    summary = (f"{len(outcomes)} report{'s' if len(outcomes) != 1 else ''}: {n_ok} ok, {n_failed} failed; "
               f"{n_exec} executed, {n_reused} unchanged; {result.duration_s:.1f}s")
    if carried:
        summary += f"; {len(carried)} carried over from the previous site"
    progress(f"{summary} -> {result.index_path}")
    return result


def _project_root(start: Path) -> Path:
    """The nearest folder above ``start`` holding pyproject.toml or .git (paths in the manifest are relative to it)."""
    for p in [start, *start.parents]:
        if (p / "pyproject.toml").is_file() or (p / ".git").exists():
            return p
    return start


def _outcome_for(job: ReportJob, rel) -> ReportOutcome:
    return ReportOutcome(id=job.spec.id, slug=job.slug, label=job.label, title=job.title, topic=job.spec.topic,
                         notebook=rel(job.spec.notebook), parameters=job.parameters, matrix_values=job.matrix_values,
                         status="failed", page=f"{job.slug}/{PAGE}")


def _rerun(o: ReportOutcome, config: Config, rel) -> list[tuple[str, str]]:
    """The "Re-run this report" commands shown on the report's page."""
    return rerun_commands(o.id, o.slug, o.notebook, o.parameters, o.matrix_values, config=rel(config.path))


def _config_order(outcomes: list[ReportOutcome], config: Config) -> list[ReportOutcome]:
    rank = {s.id: i for i, s in enumerate(config.reports)}
    slugs = {j.slug: i for i, j in enumerate(config.jobs())}
    return sorted(outcomes, key=lambda o: (rank.get(o.id, len(rank)), slugs.get(o.slug, len(slugs)), o.slug))


def _missing_notebook_page(report_dir: Path, o: ReportOutcome) -> None:

    atomic_write_text(report_dir / PAGE, missing_page(title=o.title, error=o.error or "notebook not found"))


def _reusable(prev: dict[str, Any]) -> bool:
    """A previous outcome that the same inputs would reproduce: success, or a failure inside the notebook.

    Failures of the runner itself (kernel death, timeout) and rejected parameters are always retried.
    """
    return prev.get("status") == "ok" or prev.get("failure") in ("cell", "metrics")


def _reuse(src: Path, dst: Path, prev: dict[str, Any], o: ReportOutcome, with_code: bool,
           rerun: list[tuple[str, str]] | None = None) -> None:
    """Copy a previous report's outputs; re-render its page if only the rendering changed."""
    shutil.copytree(src, dst)
    o.status, o.failure, o.error, o.reused = prev["status"], prev.get("failure"), prev.get("error"), True
    o.metrics = prev.get("metrics")
    o.executed, o.metrics_file, o.attempts = prev.get("executed"), prev.get("metrics_file"), 0
    o.finding = prev.get("finding")
    if prev.get("render_key") != o.render_key and o.executed and o.status == "ok":

        title = (o.metrics or {}).get("title") or o.title
        render_file(dst / Path(o.executed).name, dst / PAGE, title=title, with_code=with_code,
                    links=_page_links(Path(o.executed).name, o.metrics_file is not None), rerun=rerun)
        o.finding = finding_headline(dst / Path(o.executed).name)


def _apply(o: ReportOutcome, res: dict[str, Any]) -> None:
    o.status, o.error, o.failure, o.duration_s = res["status"], res["error"], res["failure"], res["duration_s"]
    o.metrics, o.attempts, o.notes = res["metrics"], res["attempts"], res["notes"]
    o.finding = res.get("finding")
    o.executed = f"{o.slug}/{res['executed']}" if res.get("executed") else None
    o.metrics_file = f"{o.slug}/{res['metrics_file']}" if res.get("metrics_file") else None


def _failure(o: ReportOutcome, task: dict[str, Any], exc: BaseException, t0: float) -> None:
    o.status, o.error, o.duration_s, o.attempts = "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, 1
    o.failure = "runner"
    try:
        _rejected_page(task, f"the runner could not execute this report: {o.error}")
    except Exception:  # the page is best effort; the outcome is recorded either way
        pass


def _execute(tasks: list[tuple[ReportOutcome, dict[str, Any]]], jobs: int, report_line) -> None:
    """Run the tasks in ``jobs`` worker processes. Their kernels fork from this process's warm fork server
    (:func:`joulebook.site.forkserver.shared`: started by :func:`build` after the parameter checks, so it
    imports while the build hashes its inputs and the workers start; kept for the next build of this process)."""
    if not tasks:
        return
    _use_fork_server(tasks)
    _execute_tasks(tasks, jobs, report_line)


def _use_fork_server(tasks: list[tuple[ReportOutcome, dict[str, Any]]]) -> None:
    server = forkserver.shared()
    for _o, task in tasks:
        task["kernel_server"] = server.socket if server is not None else False


def _execute_tasks(tasks: list[tuple[ReportOutcome, dict[str, Any]]], jobs: int, report_line) -> None:
    if jobs == 1 or len(tasks) == 1:
        for o, task in tasks:
            t0 = time.perf_counter()
            try:
                _apply(o, run_report(task))
            except Exception as e:
                _failure(o, task, e, t0)
            report_line(o, o.status if o.status != "ok" else "ok")
        return
    ctx, init = _worker_start(tasks[0][1]["with_code"])
    pool = cf.ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=init)
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # Python 3.12+ on fork with idle native threads (BLAS, Arrow): see _worker_start
            warnings.filterwarnings("ignore", message=r".*multi-threaded.*fork", category=DeprecationWarning)
            futures = {pool.submit(run_report, task): (o, task) for o, task in tasks}
        for fut in cf.as_completed(futures):
            o, task = futures[fut]
            try:
                _apply(o, fut.result())
            except Exception as e:  # a worker died (BrokenProcessPool) or raised
                _failure(o, task, e, t0)
            report_line(o, o.status)
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


FORK_WORKERS_ENV = "JOULEBOOK_FORK_WORKERS"  # "0": report workers are spawned (fresh interpreters), never forked


def _worker_start(with_code: bool) -> tuple[Any, Callable[[], None] | None]:
    """How report workers start: (multiprocessing context, initializer).

    On Linux, from a single-threaded build process, they are forked from it after it has loaded the page
    exporter (nbconvert and its templates): each worker then starts with what it needs already imported,
    where a spawned worker spends about 2 s of CPU importing papermill and nbconvert before its first report
    (benchmarks/bench_reports.py). Elsewhere (macOS, Windows, threads running, ``JOULEBOOK_FORK_WORKERS=0``)
    they are spawned. Python 3.12+ warns on any fork from a process with native threads; here they are the idle
    pools of numpy's BLAS and Arrow, which the workers (papermill, nbconvert) never call, so the warning is
    silenced for the pool's start only.
    """
    if sys.platform.startswith("linux") and threading.active_count() == 1 \
            and os.environ.get(FORK_WORKERS_ENV, "1") != "0" and "fork" in multiprocessing.get_all_start_methods():
        warm_exporter(with_code)
        return multiprocessing.get_context("fork"), forkserver.detach_inherited
    return multiprocessing.get_context("spawn"), None


def _manifest(outcomes, config, rel, commit, versions, lib_hash, data_fp, with_code, jobs, force, only, region,
              duration) -> dict[str, Any]:
    return {
        "generator": GENERATOR,
        "build": {
            "stamp": build_stamp(), "git_commit": commit, "joulebook_version": __version__,
            "config": rel(config.path), "library_hash": lib_hash, "data_fingerprint": data_fp,
            "packages": versions, "with_code": with_code, "jobs": jobs, "force": force, "only": only or None,
            "region": region, "duration_s": round(duration, 3), "cache_version": CACHE_VERSION,
            "render_version": RENDER_VERSION,
        },
        "summary": {"reports": len(outcomes), "ok": sum(o.status == "ok" for o in outcomes),
                    "failed": sum(o.status != "ok" for o in outcomes),
                    "reused": sum(o.reused for o in outcomes)},
        "reports": [{**o.to_dict(), "duration_s": round(o.duration_s, 3)} for o in outcomes],
    }

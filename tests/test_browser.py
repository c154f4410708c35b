"""A real headless Chromium opens the built site: no console errors, images load, links resolve;
every page fits a 400 px screen (no sideways page scroll), the finding sits on the first screen,
every image has descriptive alt text.

Uses Debian's chromium and chromedriver (/usr/bin); selenium-manager is never
asked to download a driver. Skipped with the reason when they are absent,
unless JOULEBOOK_REQUIRE_BROWSER=1 (CI), where their absence is a failure.
The site is served from a localhost http.server (a file:// page would hide
broken links behind the browser's error page) and holds the fixture reports
(one failing), plus the page of 10_training_energy rendered from the session's one run of it
with its test parameters (the shared report-run cache: the notebook is not executed again here).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return ", ".join(missing) or None


@pytest.fixture(scope="module")
def driver():
    missing = _browser_missing()
    if missing:
        reason = (f"headless browser check needs {missing} "
                  "(apt-get install chromium chromium-driver; CI sets JOULEBOOK_REQUIRE_BROWSER=1)")
        if os.environ.get("JOULEBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jb-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1280,900"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def served_site(tmp_path_factory, report_runs):
    """Build a small site and serve it on localhost; yields (base_url, site_dir)."""
    from joulebook.site import runner
    from joulebook.site.config import load_config
    from joulebook.site.render import render_file, rerun_commands

    work = tmp_path_factory.mktemp("browser")
    shutil.copy(FIXTURES / "fixture_report.ipynb", work / "fixture_report.ipynb")
    (work / "reports.toml").write_text("""
[[report]]
id = "fixture"
notebook = "fixture_report.ipynb"
title = "Fixture"
topic = "Fixtures"
[report.parameters]
scale = 2.0

[[report]]
id = "fixture_failing"
notebook = "fixture_report.ipynb"
title = "Fixture that fails"
topic = "Fixtures"
[report.parameters]
scale = -1.0
""", encoding="utf-8")
    out = work / "site"
    result = runner.build(work / "reports.toml", out, jobs=2, progress=None)
    assert [r.status for r in result.reports] == ["ok", "failed"], [r.error for r in result.reports]
    training = load_config(ROOT / "notebooks" / "reports.toml").spec("training_energy")
    run = report_runs.get("training_energy")  # executed once per test session, shared with other tests
    render_file(run.result.executed_path, out / "training_energy" / "report.html", title=run.metrics["title"],
                rerun=rerun_commands("training_energy", "training_energy", training.notebook.name, run.params))

    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", out
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def open_page(driver, url: str) -> list[dict]:
    driver.get_log("browser")  # drop anything from the previous page
    driver.get(url)
    driver.execute_script("return document.readyState")
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def images_loaded(driver) -> list[dict]:
    return driver.execute_script(
        "return Array.from(document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete, "
        "w: i.naturalWidth}));")


def test_index_has_no_console_errors_and_every_link_resolves(driver, served_site):
    base, out = served_site
    severe = open_page(driver, base + "index.html")
    assert severe == [], severe
    assert "joulebook reports" in driver.title
    for img in images_loaded(driver):
        assert img["complete"] and img["w"] > 0, img
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
    assert len(hrefs) >= 8
    for href in hrefs:
        url = urllib.parse.urlsplit(href)
        assert url.hostname == "127.0.0.1", f"external link on the index: {href}"
        if url.fragment and url.path.endswith("index.html"):
            assert driver.execute_script("return !!document.getElementById(arguments[0]);", url.fragment), href
            continue
        with urllib.request.urlopen(href, timeout=10) as resp:
            assert resp.status == 200, href
    cards = driver.execute_script("return document.querySelectorAll('article.card').length;")
    failed = driver.execute_script("return document.querySelectorAll('article.card.failed').length;")
    assert (cards, failed) == (2, 1)


@pytest.mark.parametrize("slug", ["training_energy", "fixture", "fixture_failing"])
def test_report_pages_load_cleanly(driver, served_site, slug):
    base, out = served_site
    severe = open_page(driver, f"{base}{slug}/report.html")
    assert severe == [], severe
    imgs = images_loaded(driver)
    if slug != "fixture_failing":
        assert imgs, "a report page shows at least one figure"
    for img in imgs:
        assert img["complete"] and img["w"] > 0, img
    back = driver.execute_script("return document.querySelector('nav.jb-nav a').href;")
    assert back.endswith("/index.html")
    if slug == "fixture_failing":
        assert "This report failed" in driver.page_source


NARROW = 400  # px: a phone held upright
SCROLL_TOLERANCE = 2  # px of rounding
FIRST_SCREEN = 900  # px: the finding block starts above this at desktop width


def report_pages(out: Path) -> list[str]:
    """Every report page the test site holds (slugs), so pages added later are checked too."""
    return sorted(p.parent.name for p in out.glob("*/report.html"))


def _narrow(driver, width: int | None) -> None:
    if width is None:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    else:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})


def test_every_page_fits_400px_without_sideways_page_scroll(driver, served_site):
    base, out = served_site
    pages = report_pages(out)
    assert len(pages) >= 3
    wide = {}
    _narrow(driver, NARROW)
    try:
        for slug in ["index.html", *pages]:
            open_page(driver, base + (slug if slug.endswith(".html") else f"{slug}/report.html"))
            assert driver.execute_script("return window.innerWidth;") == NARROW
            width = driver.execute_script("return document.documentElement.scrollWidth;")
            if width > NARROW + SCROLL_TOLERANCE:
                culprits = driver.execute_script(
                    "return Array.from(document.querySelectorAll('body *')).filter(e => "
                    "e.getBoundingClientRect().right > arguments[0] + 2).slice(-3).map(e => e.tagName + '.' + "
                    "e.className + ' ' + Math.round(e.getBoundingClientRect().right));", NARROW)
                wide[slug] = (width, culprits)
    finally:
        _narrow(driver, None)
    assert not wide, wide


def test_finding_first_screen_and_alt_text_on_every_page(driver, served_site):
    base, out = served_site
    findings = {}
    for slug in report_pages(out):
        open_page(driver, f"{base}{slug}/report.html")
        top = driver.execute_script(
            "const f = document.querySelector('.jb-finding');"
            "return f ? f.getBoundingClientRect().top + window.scrollY : null;")
        findings[slug] = top
        if top is not None:
            assert top < FIRST_SCREEN, (slug, top)
            # the finding comes before any folded provenance
            assert driver.execute_script(
                "const f = document.querySelector('.jb-finding'), p = document.querySelector('details.jb-provenance');"
                "return !p || !!(f.compareDocumentPosition(p) & Node.DOCUMENT_POSITION_FOLLOWING);"), slug
        alts = driver.execute_script("return Array.from(document.images).map(i => i.getAttribute('alt'));")
        bad = [a for a in alts if not (a or "").strip() or a.strip() == "Figure"]
        assert not bad, (slug, bad)
        assert driver.execute_script("return !!document.querySelector('details.jb-rerun pre code');"), slug
    missing = [slug for slug, top in findings.items() if top is None and slug != "fixture_failing"]
    assert not missing, f"pages without a finding block: {missing}"  # every report page answers first
    assert findings["fixture_failing"] is None  # it failed before its finding cell


def test_file_url_also_works_offline(driver, served_site):
    _, out = served_site
    severe = open_page(driver, (out / "training_energy" / "report.html").as_uri())
    assert severe == [], severe
    assert all(i["w"] > 0 for i in images_loaded(driver))

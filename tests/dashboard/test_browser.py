"""The dashboard in a real browser: Debian's Chromium driven by Playwright, offline.

One ``streamlit run app.py`` on a free loopback port with a temporary database; every request
that would leave the machine is blocked and recorded, dialogs and console errors are trapped, and
a screenshot of each page goes to artifacts/screenshots/. In CI (env CI set) a missing Chromium
is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from calibration_support import store_calibration
from dashboard_support import build_db
from sweep_support import build_sweep_db

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMEOUT_MS = 60_000
STREAMLIT_PROBES = ("/_stcore/health", "/_stcore/host-config")
NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (Not Found)"


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}; install it with 'apt-get install chromium'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    """The dashboard on a loopback port, serving a fresh database with the test runs."""
    _require_chromium()
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "browser.duckdb"
    ids = build_db(db, large=True)
    port = _free_port()
    log = (folder / "streamlit.log").open("w")
    env = {key: value for key, value in os.environ.items() if key != "SPREADLAB_DB"}
    proc = subprocess.Popen(  # the README's start command, on the test database
        [
            sys.executable,
            "-m",
            "spreadlab",
            "dashboard",
            "--db",
            str(db),
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--server.headless=true",
            "--server.fileWatcherType=none",
            "--browser.gatherUsageStats=false",
        ],
        cwd=folder,  # app.py and its .streamlit config are found from anywhere
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start; see {folder / 'streamlit.log'}")
        time.sleep(0.3)
    yield {"url": url, "ids": ids, "db": db}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A page whose off-machine requests are blocked; the test must end with none attempted,
    no dialog and no console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
    external: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        parts = urlsplit(r.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK:
            external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    probes: list[str] = []

    def response(r) -> None:
        if r.status < 400:
            return
        # Opened at /<Page>, Streamlit's frontend first looks for its server under that path
        # (404), then at the root: expected, and each such probe logs one console error.
        if r.status == 404 and urlsplit(r.url).path.endswith(STREAMLIT_PROBES):
            probes.append(r.url)
        else:
            errors.append(f"HTTP {r.status}: {r.url}")

    pg.on("response", response)
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    context.close()
    assert external == [], f"requests tried to leave the machine: {external}"
    assert dialogs == [], f"a dialog fired (script ran): {dialogs}"
    unexplained = list(errors)
    for _ in probes:
        unexplained.remove(NOT_FOUND)
    assert unexplained == [], f"console errors: {unexplained}"


MARKERS = {
    "": "Where to go",
    "Scenario_and_run": "5. Backend",
    "Spread": "had posted after",
    "Fit": "Goodness of fit",
    "Compare": "Model whose fitted rates",
    "Export": "Whole run",
    "Observed_data": "For larger ones use the command line",
    "Sweep": "Take the numbers away",
    "Calibrate": "Stored calibrations",
}


def open_page(pg, server: dict, path: str = "", **query: str) -> None:
    """Load a page and wait until the end of its script has rendered."""
    query_string = "&".join(f"{k}={v}" for k, v in query.items())
    pg.goto(f"{server['url']}/{path}" + (f"?{query_string}" if query_string else ""))
    pg.get_by_text(MARKERS[path]).first.wait_for()
    wait_idle(pg)


def wait_idle(pg) -> None:
    """Wait until Streamlit has finished running the script."""
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS
    )
    pg.wait_for_timeout(300)


def shoot(pg, name: str) -> None:
    """Save a screenshot once no element waits for its lazily loaded code (Streamlit shows a
    skeleton box until e.g. plotly's bundle has arrived, after the script has finished), every
    plotly chart has drawn, and each data frame has had up to 5 s to draw its grid."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')")
    pg.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.querySelector('.main-svg'))"
    )
    with contextlib.suppress(PlaywrightTimeout):
        pg.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stDataFrame\"]')]"
            ".every(d => d.querySelector('canvas') && d.getBoundingClientRect().width > 120)",
            timeout=5_000,
        )
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_exceptions(pg) -> None:
    assert pg.locator("[data-testid='stException']").count() == 0


def graph_frame(pg):
    """The iframe holding the network, once vis.js has drawn it."""
    pg.wait_for_selector("iframe")
    frame = pg.frame_locator("iframe").first
    frame.locator("#spread-play").wait_for()
    handle = pg.locator("iframe").first.element_handle()
    content = handle.content_frame()
    content.wait_for_function("window.spreadRound === 0")
    return content


COLOURS_JS = "() => nodes.get().map(n => (n.color && n.color.background) || n.color)"


def test_every_page_renders_offline(page, server):
    for path, title in [
        ("", "SpreadLab"),
        ("Scenario_and_run", "Scenario and run"),
        ("Spread", "Spread on the network"),
        ("Fit", "Which model explains the spread?"),
        ("Compare", "Compare events and personality mixes"),
        ("Export", "Export"),
    ]:
        open_page(page, server, path, scenario="t-uniform", run=server["ids"]["uniform"][0])
        assert page.locator("h1").first.inner_text().strip() == title
        no_exceptions(page)
        if path != "Scenario_and_run":  # its first tab shows no runs
            assert "Synthetic runs on screen" in page.inner_text("body")
        if path == "Spread":
            graph_frame(page)
            page.wait_for_timeout(1500)  # let the layout settle for the picture
            shoot(page, "page_Spread")
            open_page(page, server, "Spread", run=server["ids"]["large"][0])
            assert "1,000 of 1,500 agents" in page.inner_text("body")
            assert graph_frame(page).evaluate("nodes.length") == 1000
            page.wait_for_timeout(1500)
            shoot(page, "page_Spread_sampled")
            continue
        if path == "Fit":
            assert "One rate or two?" in page.inner_text("body")
        shoot(page, f"page_{path or 'home'}")


def run_one(pg, server: dict, agents: int, **fields: str) -> str:
    """Run a one-replicate stochastic scenario of ``agents`` agents (other form fields by label);
    return its run id."""
    open_page(pg, server, "Scenario_and_run")
    for label, value in {"Agents N": str(agents), **fields}.items():
        field = pg.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_idle(pg)
        assert field.input_value() == value  # shown as typed, e.g. q = 0.0001 is not 0.000
    pg.get_by_role("button", name="Run", exact=True).click()
    pg.get_by_text("Stored 1 run(s)").wait_for()
    no_exceptions(pg)
    return pg.get_by_text("Stored 1 run(s)").inner_text().split(": ")[1].split(".")[0]


def test_run_small_simulation_then_play_animation(page, server):
    run_id = run_one(page, server, 150)
    shoot(page, "run_done")

    open_page(page, server, "Spread", run=run_id)
    assert "of 150 agents" in page.inner_text("body")
    frame = graph_frame(page)
    before = frame.evaluate(COLOURS_JS)
    assert len(before) == 150
    frame.click("#spread-play")
    frame.wait_for_function("window.spreadRound >= 4", timeout=TIMEOUT_MS)
    frame.click("#spread-play")  # pause
    after = frame.evaluate(COLOURS_JS)
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    assert changed > 0, "no node changed colour while playing"
    posted = {"#E69F00", "#0072B2"}
    assert sum(c in posted for c in after) > sum(c in posted for c in before)
    stopped_at = frame.evaluate("window.spreadRound")
    page.wait_for_timeout(1300)
    assert frame.evaluate("window.spreadRound") == stopped_at, "pause did not stop the animation"
    frame.locator("#spread-round").fill("0")
    assert frame.evaluate("window.spreadRound") == 0
    assert "posted" in frame.inner_text("#spread-counts")
    shoot(page, "spread_played")


def test_download_curves_csv(page, server, tmp_path):
    open_page(page, server, "Export")
    caption = page.get_by_text("rows: one per run and round").inner_text()
    expected = int(caption.split(" rows")[0].replace(",", ""))
    with page.expect_download() as info:
        page.get_by_role("button", name="Download informed curves (CSV)").click()
    target = tmp_path / "curves.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == expected > 0
    by_run: dict[str, list[int]] = {}
    for row in rows:
        by_run.setdefault(row["run_id"], []).append(int(row["round"]))
    assert set(server["ids"]["uniform"]) <= set(by_run)
    for rounds in by_run.values():
        assert rounds == list(range(len(rounds)))  # every round of every run, in order
    assert all(r["synthetic"] == "True" for r in rows)
    assert all(r["data_source"].startswith("synthetic") for r in rows)
    fractions = [float(r["fraction"]) for r in rows]
    assert all(0 <= f <= 1 for f in fractions)

    page.get_by_role("button", name="Fit and store").click()
    fits_button = page.get_by_role("button", name="Download fitted parameters (CSV)")
    fits_button.wait_for()
    with page.expect_download() as info:
        fits_button.click()
    info.value.save_as(tmp_path / "fits.csv")
    fits = list(csv.DictReader(io.StringIO((tmp_path / "fits.csv").read_text())))
    members: dict[str, set[str]] = {}
    for row in rows:
        members.setdefault(row["scenario_id"], set()).add(row["run_id"])
    # a scenario of one run is fitted (and named) as that run
    groups = {next(iter(m)) if len(m) == 1 else s for s, m in members.items()}
    assert len(fits) == 2 * len(groups)  # SI-1 and SI-2 for each exported scenario
    assert {(r["group_id"], r["model"]) for r in fits} == {
        (g, m) for g in groups for m in ("si1", "si2")
    }
    for r in fits:
        assert float(r["beta_lo"]) <= float(r["beta"]) <= float(r["beta_hi"])
        assert r["data_source"].startswith("synthetic") and "per round" in r["units"]
    shoot(page, "export")


def test_payloads_render_as_inert_text(page, server):
    run_id = server["ids"]["xss"][0]
    open_page(page, server, "Spread", run=run_id)
    page.get_by_text("Event: Riot").click()  # open the expander holding the report
    wait_idle(page)
    body = page.inner_text("body").replace("\u2060", "")  # word joiners that break links
    assert "<script>alert('xss-script')</script>" in body  # shown as text
    assert "![pixel](http://203.0.113.9/pixel.png)" in body  # Markdown shown as text too
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("img[src='x']").count() == 0
    for bare in ("203.0.113.9", "example.org"):  # bare URLs and addresses are not linked
        assert page.locator(f"a[href*='{bare}']").count() == 0
    frame = graph_frame(page)
    frame.click("#spread-play")
    frame.wait_for_function("window.spreadRound >= 2", timeout=TIMEOUT_MS)
    tip = frame.evaluate("() => nodes.get()[0].title.innerHTML")
    assert "&lt;script&gt;" in tip and "<script" not in tip
    assert frame.locator("img[src='x']").count() == 0
    # hover over a posting agent: vis.js shows its tooltip, the payload in it as plain text
    frame.wait_for_function("!network.physics.physicsEnabled || network.physics.stabilized")
    spot = frame.evaluate(
        """() => {
            const id = nodes.getIds()[0];
            return network.canvasToDOM(network.getPositions([id])[id]);
        }"""
    )
    box = frame.locator("#mynetwork").bounding_box()
    page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
    tooltip = frame.locator("div.vis-tooltip")
    tooltip.wait_for(state="visible")
    assert "says <script>alert('xss-script')</script><img src=x" in tooltip.inner_text()
    assert tooltip.locator("img, script").count() == 0
    shoot(page, "xss_spread")
    open_page(page, server, "Scenario_and_run")
    page.get_by_text("My own report").click()
    wait_idle(page)
    page.get_by_label("News report the seed agents read").fill(
        "<script>alert('typed')</script><img src=x onerror=alert('typed-img')>"
    )
    page.get_by_label("Headline").fill("<img src=x onerror=alert('headline')>")
    page.get_by_label("Headline").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Stored 1 run(s)").wait_for()
    assert page.locator("img[src='x']").count() == 0
    shoot(page, "xss_scenario")


def test_cancel_a_running_simulation(page, server):
    open_page(page, server, "Scenario_and_run")
    # 20 replicates of 100,000 agents: long enough to cancel on a quiet machine too (one
    # replicate takes about a second there, so waiting for a given round could miss it)
    for label, value in [("Agents N", "100000"), ("Degree k", "10"), ("Replicates", "20")]:
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"Replicate \d+/20, round \d+")).first.wait_for()
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_text("The run was cancelled").wait_for()
    no_exceptions(page)
    assert page.get_by_text("Stored 20 run(s)").count() == 0
    shoot(page, "run_cancelled")


def test_animation_frame_cost_at_1000_agents(page, server):
    open_page(page, server, "Spread", run=server["ids"]["large"][0])
    frame = graph_frame(page)
    per_frame_ms = frame.evaluate(
        """() => {
            const slider = document.getElementById("spread-round");
            const last = Number(slider.max);
            const start = performance.now();
            for (let r = 0; r <= last; r++) {
                slider.value = r;
                slider.dispatchEvent(new Event("input"));
            }
            return (performance.now() - start) / (last + 1);
        }"""
    )
    print(f"recolouring 1,000 agents: {per_frame_ms:.1f} ms per round")
    assert per_frame_ms < 100  # the animation steps every 600 ms


def test_observed_series_upload_fit_overlay_and_export(page, server, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from spreadlab.analysis.observed import EXAMPLE_PATH

    mine = tmp_path / "my_posts.csv"
    mine.write_bytes(EXAMPLE_PATH.read_bytes())  # same numbers, but uploaded as the user's own
    open_page(page, server, "Observed_data")
    page.locator("input[type=file]").set_input_files(str(mine))
    page.get_by_text("Against the simulations").wait_for(timeout=60_000)
    page.get_by_label("New posters per interval").click()
    page.get_by_role("option", name="new_posters").click()
    page.get_by_label("Population N").fill("50000")
    page.get_by_label("Population N").press("Enter")
    with contextlib.suppress(PlaywrightTimeout):  # the rerun may start and end before we look
        page.wait_for_selector("[data-testid='stStatusWidget']", timeout=5_000)
    wait_idle(page)
    page.get_by_text("not evidence of mechanism").wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert "observed, user-supplied: my_posts.csv" in body and "not simulated" in body
    assert "not evidence of mechanism" in body  # (tables are drawn on a canvas: units below)
    no_exceptions(page)
    shoot(page, "page_Observed_data")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the fits (CSV)").click()
    info.value.save_as(tmp_path / "fits.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "fits.csv").read_text())))
    assert rows and all(r["backend"] == "observed" and r["synthetic"] == "False" for r in rows)
    assert all(r["data_source"].startswith("observed, user-supplied: my_posts.csv") for r in rows)
    assert {r["verdict"] for r in rows} == {"offline"}
    assert {r["n_agents"] for r in rows} == {"50000"}  # the page's final state, N as typed
    assert any("per 1h" in r["unit"] for r in rows)
    with page.expect_download() as info:  # the overlay's ranking, with both sides' provenance
        page.get_by_role("button", name="Download the comparison (CSV)").click()
    info.value.save_as(tmp_path / "closest.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "closest.csv").read_text())))
    assert rows and rows[0]["rank"] == "1" and all(r["provenance"] == "observed" for r in rows)
    assert all(r["data_source"].startswith("observed, user-supplied: my_posts.csv") for r in rows)
    assert all(r["scenario_kind"].startswith("simulated") for r in rows)
    assert all("not evidence of mechanism" in r["caveat"] for r in rows)
    page.get_by_role("button", name="Save to database").click()
    page.get_by_text("Saved as observed dataset").wait_for(timeout=60_000)
    open_page(page, server, "Export")  # the saved dataset is exported like a scenario
    page.get_by_label("Observed datasets to export").click()
    page.get_by_role("option", name=re.compile("my_posts.csv")).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Download observed fits (CSV)").wait_for(timeout=60_000)
    wait_idle(page)
    no_exceptions(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download observed fits (CSV)").click()
    info.value.save_as(tmp_path / "exported.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "exported.csv").read_text())))
    assert {r["model"] for r in rows} == {"si1", "si2", "si1g", "si2g", "mf_map"}
    assert all(r["data_source"].startswith("observed, user-supplied: my_posts.csv") for r in rows)
    assert all(r["backend"] == "observed" and "round" not in r["unit"] for r in rows)


TABLE_FITS_JS = """(table) => {
    const box = table.getBoundingClientRect();
    return {scroll: table.scrollWidth, client: table.clientWidth, right: box.right,
            heads: [...table.querySelectorAll('thead th')].map(th => th.innerText.trim())};
}"""


def test_fit_tables_fit_a_laptop_screen(page, server):
    page.set_viewport_size({"width": 1280, "height": 800})
    open_page(page, server, "Fit", scenario="t-uniform")
    tables = page.locator("[data-testid='stTable'] table")
    tables.nth(1).wait_for()
    assert tables.count() == 2
    params, criteria = (tables.nth(i).evaluate(TABLE_FITS_JS) for i in range(2))
    assert params["heads"][-5:] == ["model", "parameter", "estimate", "95% interval", "unit"]
    assert criteria["heads"][-6:-3] == ["model", "BIC", "BIC above the best"]
    for shown in (params, criteria):
        assert shown["scroll"] <= shown["client"] and shown["right"] <= 1280, shown
    body = page.inner_text("body")
    assert "offline rate α" in body and "n_params" not in body and "delta_aic" not in body
    shoot(page, "fit_1280")


def test_export_holds_what_was_run_and_fitted(page, server, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 800})
    run_id = run_one(page, server, 120, **{"q: offline reach per round": "0.0001"})
    assert page.get_by_role("button", name="Cancel run").count() == 0  # gone after Done
    page.get_by_role("link", name="Fit", exact=True).click()  # same session
    page.get_by_text("Goodness of fit").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Store these fits for export").click()
    page.get_by_text("Stored for export: 2 fit(s)").wait_for()
    page.get_by_role("link", name="Export them as CSV").click()
    page.get_by_text("Whole run").wait_for()
    wait_idle(page)
    assert "Stored for export: 2 fit(s)" in page.inner_text("body")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download fitted parameters (CSV)").click()
    info.value.save_as(tmp_path / "fits.csv")
    fits = list(csv.DictReader(io.StringIO((tmp_path / "fits.csv").read_text())))
    # a scenario of one run is fitted (and named) as that run
    assert sorted((r["group_id"], r["model"]) for r in fits) == [(run_id, "si1"), (run_id, "si2")]
    assert all(r["data_source"].startswith("synthetic") for r in fits)
    assert {float(r["q"]) for r in fits} == {0.0001}  # typed 0.0001, run with 0.0001
    shoot(page, "export_after_fit")


def test_sweep_heatmap_hover_and_csv(page, server, tmp_path):
    sweep_id = build_sweep_db(server["db"])  # summaries only: the runs table is unchanged
    open_page(page, server, "Sweep")
    no_exceptions(page)
    chosen = page.locator("[data-testid='stSelectbox']").first.locator("input").input_value()
    assert chosen.startswith("page test · 6 of 6 cells done")
    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.locator(".main-svg").first.wait_for()
    box = chart.locator(".nsewdrag").first.bounding_box()
    # columns: the three mixes in sorted order, uniform last; rows: battle at the bottom
    page.mouse.move(box["x"] + box["width"] * 5 / 6, box["y"] + box["height"] * 3 / 4)
    hover = chart.locator(".hovertext").first
    hover.wait_for()
    text = hover.text_content() or ""
    assert "battle-marren-ridge × uniform: 95% interval" in text
    assert "final reach" in text
    curves = page.locator("[data-testid='stPlotlyChart']").nth(1)
    curves.scroll_into_view_if_needed()
    curves.locator(".main-svg").first.wait_for()
    assert curves.locator(".nsewdrag").count() == 6  # events × mixes, one small chart each
    box = curves.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = curves.locator(".hovertext").first
    hover.wait_for()
    assert "informed (mean over replicates)" in (hover.text_content() or "")
    shoot(page, "page_Sweep")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download per-cell summaries (CSV)").click()
    target = tmp_path / "sweep.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 6 and {r["sweep_id"] for r in rows} == {sweep_id}
    assert len({r["cell_id"] for r in rows}) == 6
    assert all(r["data_source"].startswith("synthetic") for r in rows)
    assert all(
        0 <= float(r["reach_lo"]) <= float(r["reach"]) <= float(r["reach_hi"]) <= 1 for r in rows
    )


def test_calibrate_page_draws_both_heatmaps_with_intervals_on_hover(page, server):
    calibration_id = store_calibration(server["db"])  # the real job, local server
    open_page(page, server, "Calibrate")
    no_exceptions(page)
    chosen = page.locator("[data-testid='stSelectbox']").first.locator("input").input_value()
    assert chosen.startswith("sim-1 at 127.0.0.1:") and chosen.endswith(calibration_id)
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(2).wait_for()
    assert charts.count() == 3  # a, b and the forest plot
    for i, channel in enumerate("ab"):
        chart = charts.nth(i)
        chart.locator(".heatmaplayer image").first.wait_for()
        assert (chart.locator(".gtitle").text_content() or "").startswith(f"{channel}: ")
        assert chart.locator(".ytick").count() == 32 and chart.locator(".xtick").count() == 6
    box = charts.first.locator(".nsewdrag").first.bounding_box()
    # the top-left cell: profile O-C-E-A-N- (code 0) in battles
    page.mouse.move(box["x"] + box["width"] / 12, box["y"] + box["height"] / 64)
    hover = charts.first.locator(".hovertext").first
    hover.wait_for()
    text = hover.text_content() or ""
    assert "O-C-E-A-N- × Battles" in text and "exact 95% interval" in text
    assert "the model takes every trait on" in page.inner_text("body")
    shoot(page, "page_Calibrate")
    page.get_by_text("Run a large scenario with this table").scroll_into_view_if_needed()
    shoot(page, "page_Calibrate_provenance")


def start_validation(page, server, base_url: str) -> None:
    """Store a calibration (newest first, so shown first), point New calibration at the LLM
    ``base_url`` and press Validate with the LLM on the stored one."""
    store_calibration(server["db"])
    open_page(page, server, "Calibrate")
    page.get_by_role("tab", name="New calibration").click()
    field = page.get_by_label("Endpoint base URL", exact=True)
    field.fill(base_url)
    field.press("Enter")
    wait_idle(page)
    page.get_by_role("tab", name="Stored calibrations").click()
    page.get_by_role("button", name="Validate with the LLM").click()


def test_validate_a_calibration_against_the_llm(page, server):
    from calibration_server import calibration_server

    with calibration_server() as llm:
        start_validation(page, server, llm.base_url)
        page.get_by_text("this model's spread").wait_for()
        wait_idle(page)
    no_exceptions(page)
    chart = page.locator("[data-testid='stPlotlyChart']").last
    assert (chart.locator(".gtitle").text_content() or "") == "LLM agents against the surrogate"
    chart.scroll_into_view_if_needed()
    shoot(page, "page_Calibrate_validation")


def test_cancel_a_running_validation(page, server):
    from calibration_server import calibration_server
    from llm_server import ServerConfig

    # every reply waits 0.1 s: the 5 LLM replicates' 80 rounds take far longer than the test
    with calibration_server(ServerConfig(latency=0.1)) as llm:
        start_validation(page, server, llm.base_url)
        page.get_by_text(re.compile(r"\d+ of at most 80 LLM rounds")).first.wait_for()
        page.get_by_role("button", name="Cancel validation").click()
        page.get_by_text("The validation was cancelled").wait_for()
        no_exceptions(page)
        asked = llm.requests
        time.sleep(1.0)
        assert llm.requests - asked < 50  # the LLM is no longer asked
    assert page.get_by_text("this model's spread").count() == 0


def test_cancel_a_running_calibration(page, server):
    from calibration_server import calibration_server
    from llm_server import ServerConfig

    # every reply waits 0.1 s: a batch (one event, one repeat: 224 probes) takes a few seconds
    with calibration_server(ServerConfig(latency=0.1)) as llm:
        open_page(page, server, "Calibrate")
        page.get_by_role("tab", name="New calibration").click()
        for label, value in [("Endpoint base URL", llm.base_url), ("Model", "sim-1")]:
            field = page.get_by_label(label, exact=True)
            field.fill(value)
            field.press("Enter")
            wait_idle(page)
        page.get_by_text("Estimate before you start").wait_for()
        page.get_by_role("button", name="Start calibration").click()
        page.get_by_text(re.compile(r"\d+ of 60 batches")).first.wait_for()
        page.get_by_role("button", name="Cancel calibration").click()
        page.get_by_text("The calibration was cancelled").wait_for()
        no_exceptions(page)
        asked = llm.requests
    assert asked < 60 * 224  # stopped well before the default design's 13,440 probes
    assert page.get_by_text("Stored calibration cal-").count() == 0
    shoot(page, "calibration_cancelled")

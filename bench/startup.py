"""Start-up times: the command line and the dashboard against ``python -c "import numpy"``.

    python bench/startup.py [--repeats 5] [--browser-repeats 3] [--no-browser]

Targets (issue 13): ``spreadlab --help`` within 1.5x the time of ``python -c "import numpy"``;
``spreadlab run --n 100000 --k 10`` <= 1.5 s whole process; on a fresh clone with the server
started, the home page interactive in Chromium within 3 s (sample loading included) and later
page switches <= 1 s. Commands run in fresh interpreters on this checkout, best of ``--repeats``.
The dashboard is served from an empty temporary folder, as on a fresh clone, by the README's
command (``spreadlab dashboard``) and, for comparison, by plain ``streamlit run app.py``; it is
driven with Debian's Chromium through Playwright, ``--browser-repeats`` times (a new server,
folder and browser each time). Times are taken inside the page (see :data:`READY_JS`); each
dashboard line is the median, with every repeat's time beside it. Exits with status 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _shared import ROOT, machine

CHROMIUM = "/usr/bin/chromium"
# The sidebar label of each page and the last text its script renders on the sample runs (elements
# arrive in order, so once it is there everything before it is too).
PAGES = {
    "Scenario and run": "Another run id",
    "Spread": "had posted after",
    "Fit": "Learn the equation from the data",
    "Compare": "event effects are against",
    "Export": "Download run folder",
}
HOME_MARKER = "Hover for its name"  # the caption under the chart, last on the page
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def best_time(command: list[str], repeats: int, cwd: Path) -> float:
    """Fastest wall time of ``command`` in a fresh process; fails loudly if it fails."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return min(times)


def command_times(repeats: int, folder: Path) -> dict[str, float]:
    spreadlab = [sys.executable, "-m", "spreadlab"]
    db = folder / "samples.duckdb"
    subprocess.run([*spreadlab, "samples", "load", "--db", str(db)], env=ENV, check=True)
    run_db = folder / "run.duckdb"

    def fresh_run() -> list[str]:
        run_db.unlink(missing_ok=True)
        return [*spreadlab, "run", "--n", "100000", "--k", "10", "--db", str(run_db)]

    runs = [best_time(fresh_run(), 1, folder) for _ in range(repeats)]
    numpy = best_time([sys.executable, "-c", "import numpy"], repeats, folder)
    return {
        'python -c "import numpy"': numpy,
        "spreadlab --help": best_time([*spreadlab, "--help"], repeats, folder),
        "spreadlab runs (91 sample runs)": best_time(
            [*spreadlab, "runs", "--db", str(db)], repeats, folder
        ),
        "spreadlab run --n 100000 --k 10": min(runs),
    }


SERVERS = {
    "spreadlab dashboard": ["-m", "spreadlab", "dashboard"],
    "streamlit run app.py": ["-m", "streamlit", "run", str(ROOT / "app.py")],
}
"""The README's start command, and plain Streamlit on the same script (no preloaded imports)."""
README_SERVER = "spreadlab dashboard"


def serve(folder: Path, server: str = README_SERVER) -> tuple[subprocess.Popen, str]:
    """The dashboard, started from ``folder`` with no database yet by ``server`` (a key of
    :data:`SERVERS`); returns once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {key: value for key, value in ENV.items() if key != "SPREADLAB_DB"}
    proc = subprocess.Popen(
        [
            sys.executable,
            *SERVERS[server],
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--server.headless=true",
            "--server.fileWatcherType=none",
            "--browser.gatherUsageStats=false",
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("streamlit did not start within 60 s")


# Timed inside the page, from navigation start (or the click's own timestamp) to the first frame
# in which the page is complete: its last text there, Streamlit's running indicator and loading
# placeholders gone, every table and plotly chart drawn, every embedded page loaded. Checked on
# every animation frame; Playwright's own waits poll at growing intervals (up to half a second),
# which read a 0.5 s switch as 0.5 or 1.0 s depending on where it fell between two polls.
READY_JS = """
window.__ready = (marker, needTable) => new Promise(resolve => {
  const drawn = () => {
    if (document.body === null || !document.body.textContent.includes(marker)) { return false; }
    const busy = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]';
    if (document.querySelector(busy) !== null) { return false; }
    if (needTable && document.querySelector('[data-testid="stDataFrame"] canvas') === null) {
      return false;
    }
    for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
      if (chart.querySelector('.main-svg') === null) { return false; }
    }
    for (const frame of document.querySelectorAll('iframe')) {
      const inner = frame.contentDocument;
      if (inner !== null && (inner.URL === 'about:blank' || inner.readyState !== 'complete')) {
        return false;  // an iframe starts on a blank page, complete before its own is loaded
      }
    }
    return true;
  };
  const poll = () => {
    if (drawn()) {
      setTimeout(() => resolve(performance.now()));
    } else {
      requestAnimationFrame(poll);
    }
  };
  poll();
});
document.addEventListener('click', event => { window.__clicked = event.timeStamp; }, true);
"""


def dashboard_times(
    folder: Path, server: str = README_SERVER, switches: bool = True
) -> dict[str, float]:
    """Seconds to an interactive home page on a fresh clone, then (``switches``) to each page
    switch."""
    from playwright.sync_api import sync_playwright

    proc, url = serve(folder, server)
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(120_000)
            page.add_init_script(
                READY_JS + f"window.__home = window.__ready({HOME_MARKER!r}, true);"
            )
            page.goto(url)
            out[f"home page, fresh clone (samples loaded), {server}"] = (
                page.evaluate("window.__home") / 1000
            )
            sidebar = page.locator('[data-testid="stSidebar"]')
            for label, marker in PAGES.items() if switches else ():
                page.evaluate(f"() => {{ window.__next = window.__ready({marker!r}, false); }}")
                sidebar.get_by_text(label, exact=True).click()
                ready = page.evaluate("window.__next")
                out[f"switch to {label}"] = (ready - page.evaluate("window.__clicked")) / 1000
                wait_idle(page)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def wait_idle(page) -> None:
    """Until Streamlit's running indicator is gone (the script has finished)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--browser-repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="Skip the dashboard timings.")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        times = command_times(args.repeats, Path(tmp))
        runs: dict[str, list[float]] = {}
        for repeat in range(0 if args.no_browser else args.browser_repeats):
            for server in SERVERS:
                clone = Path(tmp) / f"fresh-clone-{repeat}-{server.split()[0]}"
                clone.mkdir()
                timed = dashboard_times(clone, server, switches=server == README_SERVER)
                for name, seconds in timed.items():
                    runs.setdefault(name, []).append(seconds)
        times |= {name: statistics.median(values) for name, values in runs.items()}
    base = times['python -c "import numpy"']
    limits = {
        "spreadlab --help": 1.5 * base,
        "spreadlab run --n 100000 --k 10": 1.5,
        f"home page, fresh clone (samples loaded), {README_SERVER}": 3.0,
        **{f"switch to {label}": 1.0 for label in PAGES},
    }
    missed = []
    for name, seconds in times.items():
        limit = limits.get(name)
        verdict = "" if limit is None else ("ok" if seconds <= limit else "SLOW")
        target = "" if limit is None else f"target <= {limit:.2f} s"
        each = f"  (each: {', '.join(f'{x:.2f}' for x in runs[name])})" if name in runs else ""
        print(
            f"{name:62s} {seconds:6.2f} s  {seconds / base:5.1f}x numpy  {target} {verdict}{each}"
        )
        if verdict == "SLOW":
            missed.append(name)
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()

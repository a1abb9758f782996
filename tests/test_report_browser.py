"""The HTML report from demo data, opened in real headless Chromium over the DevTools protocol.

Fails on any JavaScript error or console error and on any network request
(the file must open offline); checks that the Sankey and the funnel are drawn
with the labels and numbers the reference computes from the same events; saves
a screenshot to test-artifacts/journey-report.png.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from reference import compute
from reference import funnel as reference_funnel
from reference import paths as reference_paths

from journey_sql.cli.app import cli

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SCREENSHOT = ARTIFACTS / "journey-report.png"
FUNNEL = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1400,2400",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); under CI this test must run")
    return path


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands, and the events seen meanwhile."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {seconds} s")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's own report, and the reference's paths and funnel for the same events."""
    root = tmp_path_factory.mktemp("report")
    database = root / "journey.duckdb"
    result = CliRunner().invoke(
        cli, ["demo", "--events", "20000", "--seed", "11", "--database", str(database)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    html_path = root / "journey-report.html"
    assert str(html_path) in result.output.replace("\n", "")  # the demo names the report it wrote
    cols = ["id", "anonymous_id", "user_id", "event", "timestamp", "received_at"]
    con = duckdb.connect(str(database), read_only=True)
    rows = [
        dict(zip(cols, r, strict=True)) for r in con.execute(f"SELECT {', '.join(cols)} FROM rudder.tracks").fetchall()
    ]
    con.close()
    tables = compute(rows, 30, 5)
    return {
        "html": html_path,
        "paths": reference_paths(tables, 4, 12),
        "funnel": reference_funnel(tables, FUNNEL, "session"),
    }


def test_report_is_self_contained(report: dict[str, Any]) -> None:
    text = report["html"].read_text(encoding="utf-8")
    assert "<script src=" not in text and "cdn.plot.ly/plotly" not in text
    assert 'name="generator" content="journey-sql' in text


def test_report_draws_in_chromium(report: dict[str, Any], tmp_path: Path) -> None:
    exe = chromium()
    profile = tmp_path / "profile"
    log = open(tmp_path / "chromium.log", "wb")  # noqa: SIM115  # closed after chromium exits, below
    proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=log, stderr=log)
    devtools = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert proc.poll() is None, f"chromium exited: {(tmp_path / 'chromium.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            devtools.call(f"{domain}.enable")
        devtools.call("Emulation.setDeviceMetricsOverride", width=1400, height=2400, deviceScaleFactor=1, mobile=False)
        devtools.call("Page.navigate", url=report["html"].resolve().as_uri())
        devtools.wait_for("Page.loadEventFired")
        drawn = (
            "new Promise(r => { const t = Date.now(); (function poll() {"
            " if (document.querySelectorAll('#sankey .node-label').length && "
            "document.querySelectorAll('#funnel .bartext').length || Date.now() - t > 15000) r(true);"
            " else setTimeout(poll, 100); })(); })"
        )
        devtools.evaluate(drawn)
        sankey_labels = devtools.evaluate(
            "Array.from(document.querySelectorAll('#sankey .node-label')).map(e => e.textContent)"
        )
        funnel_texts = devtools.evaluate(
            "Array.from(document.querySelectorAll('#funnel .bartext')).map(e => e.textContent)"
        )
        funnel_ticks = devtools.evaluate(
            "Array.from(document.querySelectorAll('#funnel .ytick')).map(e => e.textContent)"
        )
        sankey_total = devtools.evaluate(
            "document.getElementById('sankey').data[0].link.value.reduce((a, b) => a + b, 0)"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        shot = devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
        events = list(devtools.events)
    finally:
        if devtools is not None:
            devtools.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    errors = [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    errors += [
        e["params"]
        for e in events
        if e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert")
    ]
    errors += [
        e["params"]["entry"]
        for e in events
        if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"
    ]
    assert not errors, f"JavaScript errors in the report: {errors[:3]}"
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:", "blob:"))
    ]
    assert not requests, f"the report fetched from the network: {requests[:5]}"

    # the Sankey: every label of the reference's top paths, and the sessions they hold
    _, paths = report["paths"]
    expected_labels = {s for path, ended, _ in paths for s in path} | (
        {"(end)"} if any(e for _, e, _ in paths) else set()
    )
    assert set(sankey_labels) == expected_labels
    links = sum(n * (len(path) - (0 if ended else 1)) for path, ended, n in paths)
    assert sankey_total == links
    # the funnel: each step's name and its count, as the reference counts them
    all_sessions, reached = report["funnel"]
    funnel_ticks = sorted(funnel_ticks)  # the y axis lists them bottom up
    assert [t[: len(f"{i}. {name}")] for (i, name), t in zip(enumerate(FUNNEL, 1), funnel_ticks, strict=False)] == [
        f"{i}. {name}" for i, name in enumerate(FUNNEL, 1)
    ]
    assert funnel_texts == [f"{n:,} sessions" for n in reached]
    first_share = f"{reached[0] / all_sessions:.1%} of all sessions"
    assert first_share in funnel_ticks[0]
    assert SCREENSHOT.stat().st_size > 50_000

"""The dashboard end to end: a real Streamlit server and a headless Chromium (Playwright).

Needs the Python package ``playwright`` and Debian's ``chromium`` at /usr/bin/chromium
(``playwright install`` is never used). Without them the tests are skipped, unless
HMMREC_REQUIRE_BROWSER=1, when they fail. Screenshots of every page are kept in
tests/artifacts/.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO, SOUNDS, dashboard_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "tests" / "artifacts"
KIWI = SOUNDS / "test" / "kiwi" / "kiwi_en-gb-scotland_f2_1.wav"
STREAM = SOUNDS / "streams" / "stream1.wav"  # kiwi at 8.3 s, orange at 18.1 s, kiwi at 22.7 s (stream1.csv)
SERVER_START_S = 90
PAGE_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 2000}

pytestmark = pytest.mark.slow


def _require_browser():
    """The playwright module, or skip (fail with HMMREC_REQUIRE_BROWSER=1) when it cannot run."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install 'hmmrec[browser]')")
    try:
        import streamlit  # noqa: F401
    except ImportError:
        missing.append("streamlit (pip install 'hmmrec[dashboard]')")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        if os.environ.get("HMMREC_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " (HMMREC_REQUIRE_BROWSER=1)")
        pytest.skip(msg)


def streamlit_server(log: Path, **env):
    """A Streamlit server of dashboard/app.py (see :func:`helpers.dashboard_server`), with
    ``env`` added to its environment; yields its URL and stops it afterwards."""
    return dashboard_server(lambda port: [
        sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py"), "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none"], log, SERVER_START_S, **env)


@pytest.fixture(scope="module")
def server(fruit_model_path, tmp_path_factory):
    """A Streamlit server of dashboard/app.py showing the small session model; yields its URL."""
    _require_browser()
    with streamlit_server(tmp_path_factory.mktemp("streamlit") / "server.log",
                          HMMREC_DASHBOARD_MODEL=str(fruit_model_path)) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()


def fake_microphone_args(wav: Path) -> list[str]:
    """Chromium flags that make ``wav`` the microphone (played in a loop) and grant access to it."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(PAGE_TIMEOUT_MS)
    yield pg
    context.close()


def _settle(pg) -> None:
    """Wait until the script has finished running and the charts are drawn."""
    pg.wait_for_selector('[data-testid="stAppViewContainer"]')
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=PAGE_TIMEOUT_MS)
    pg.wait_for_timeout(1500)  # Vega renders after the script ends


def _screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard_{name}.png"
    pg.screenshot(path=str(path))
    return path


def _no_exception(pg) -> None:
    errors = pg.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()


@pytest.mark.parametrize("path, name, heading, marker", [
    ("", "recognize", "Recognize a word", '[data-testid="stMetricValue"]'),
    ("stream", "stream", "Stream", "text=keyword event"),
    ("train", "train", "Train & evaluate", "text=Evaluate the current model"),
    ("model", "model", "Model", "text=Transition matrix"),
])
def test_every_page_renders(page, server, path, name, heading, marker):
    page.goto(f"{server}/{path}")
    page.wait_for_selector(f"h1:has-text('{heading}')")
    page.wait_for_selector(marker)
    _settle(page)
    _no_exception(page)
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    for title in ("Recognize", "Stream", "Train & evaluate", "Model"):
        assert title in nav
    if name != "train":  # charts render after the page's text: wait for one (slow on a busy machine)
        page.wait_for_selector('[data-testid="stVegaLiteChart"], .vega-embed', timeout=60_000)
    assert _screenshot(page, name).stat().st_size > 0


def test_the_stream_page_scores_the_recording_against_its_truth(page, server):
    """stream1.wav has its truth list beside it: keywords found and false alarms, then the curve."""
    page.goto(f"{server}/stream")
    page.wait_for_selector("text=Keywords found", timeout=PAGE_TIMEOUT_MS)
    _settle(page)
    found = page.locator('[data-testid="stMetric"]', has_text="Keywords found").inner_text()
    assert " of 4" in found  # pineapple, kiwi, orange, kiwi: the words of stream1.csv that the small model knows
    page.get_by_text("Misses and false alarms at every sensitivity").click()
    page.wait_for_selector("text=false alarm per hour:", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelectorAll('.vega-embed').length >= 2", timeout=PAGE_TIMEOUT_MS)
    _no_exception(page)
    _screenshot(page, "stream_curve")


def test_upload_a_kiwi_and_see_it_recognised(page, server):
    page.goto(server)
    page.wait_for_selector("h1:has-text('Recognize a word')")
    _settle(page)
    page.get_by_text("Upload a WAV").click()
    page.wait_for_selector('input[type="file"]', state="attached")
    page.set_input_files('input[type="file"]', str(KIWI))
    page.wait_for_function(
        "() => { const m = document.querySelector('[data-testid=\"stMetricValue\"]');"
        " return m && m.innerText.includes('kiwi') && document.body.innerText.includes('" + KIWI.name + "'); }",
        timeout=PAGE_TIMEOUT_MS)
    _settle(page)
    _no_exception(page)
    assert "kiwi" in page.locator('[data-testid="stMetricValue"]').first.inner_text()
    _screenshot(page, "recognize_upload")


def test_upload_of_a_non_wav_is_a_friendly_message(page, server, tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    page.goto(server)
    page.wait_for_selector("h1:has-text('Recognize a word')")
    _settle(page)
    page.get_by_text("Upload a WAV").click()
    page.set_input_files('input[type="file"]', str(bogus))
    alert = page.locator('[data-testid="stAlertContentError"]')
    alert.wait_for()
    assert "notes.wav" in alert.inner_text() and "not a readable audio file" in alert.inner_text()
    _no_exception(page)
    _screenshot(page, "recognize_bad_upload")


def _other_address() -> str | None:
    """An IPv4 address of this machine other than loopback (where other hosts would reach it)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))  # no packet is sent: this only picks the outgoing interface
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def test_hmmrec_dashboard_serves_this_machine_only(fruit_model_path, tmp_path):
    """The real launcher: reachable on 127.0.0.1, refused on the machine's network address."""
    pytest.importorskip("streamlit", reason="the dashboard needs Streamlit (pip install 'hmmrec[dashboard]')")
    other = _other_address()
    if other is None:
        pytest.skip("this machine has no network address besides loopback to check from")
    launcher = lambda port: [sys.executable, "-m", "hmmrec.cli", "dashboard", "--port", str(port),  # noqa: E731
                             "--model", str(fruit_model_path)]
    with dashboard_server(launcher, tmp_path / "server.log", SERVER_START_S) as url:
        with pytest.raises(OSError):
            socket.create_connection((other, int(url.rsplit(":", 1)[1])), timeout=3).close()


def test_live_from_the_visitors_microphone(playwright, server):
    """WebRTC with no internet: Chromium's fake microphone plays a recording of known words into
    the Stream page's live mode, whose events must name them as they are spoken."""
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                   args=CHROMIUM_ARGS + fake_microphone_args(STREAM))
    try:
        pg = b.new_context(viewport=VIEWPORT).new_page()
        pg.set_default_timeout(PAGE_TIMEOUT_MS)
        pg.goto(f"{server}/stream")
        _settle(pg)
        pg.get_by_text("Live", exact=True).click()
        start = pg.frame_locator('iframe[title*="streamlit_webrtc"]').get_by_role("button", name="Start listening")
        start.click()
        heard = pg.locator("p", has_text="Heard:")
        deadline = time.monotonic() + 60
        seen = set()
        while not {"kiwi", "orange"} <= seen and time.monotonic() < deadline:
            pg.wait_for_timeout(500)
            text = heard.first.inner_text() if heard.count() else ""
            seen = {w for w in ("kiwi", "orange", "pineapple", "_silence_") if w in text}
        _screenshot(pg, "stream_live_browser")
        _no_exception(pg)
        assert {"kiwi", "orange"} <= seen and "_silence_" not in seen, pg.inner_text("body")[:2000]
        assert "from your browser's microphone" in pg.inner_text("body")
    finally:
        b.close()

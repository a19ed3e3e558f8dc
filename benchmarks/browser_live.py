"""Live recognition from the visitor's microphone in a real browser: how soon a word appears.

Starts the dashboard (a real Streamlit server) with a model of the built-in ``sounds/``
words, opens the Stream page's live mode in headless Chromium whose fake microphone plays
``sounds/streams/stream1.wav`` over and over (WebRTC, no internet), listens for
``--seconds`` of audio and prints JSON: the words heard, and how long after each word's
end (its last sample reaching the server) it was on the page (the figure the page itself
shows: median and 95th percentile).

    python benchmarks/browser_live.py [--seconds 60] [--model PATH]

Needs the dashboard and browser extras and Debian's chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from helpers import dashboard_server  # noqa: E402  (the browser tests' server, with the real launcher here)

STREAM = REPO / "sounds" / "streams" / "stream1.wav"
CHROMIUM = "/usr/bin/chromium"


def train_model(path: Path) -> None:
    """The model of the dashboard's tests: 4 sounds/ labels, 6 files each (fast to train)."""
    from helpers import small_train_set

    from hmmrec import HMMRecognizer

    X, y = small_train_set()
    HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), n_jobs=1).fit(X, y).save(path, overwrite=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="audio to listen to")
    ap.add_argument("--model", help="model file (default: a small model of sounds/, trained first)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else Path(tmp) / "fruit.model"
        if not args.model:
            train_model(model)
        launcher = lambda port: [sys.executable, "-m", "hmmrec.cli", "dashboard", "--port", str(port),  # noqa: E731
                                 "--model", str(model)]
        with dashboard_server(launcher, Path(tmp) / "server.log") as url:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                    "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={STREAM}"])
                pg = b.new_context(viewport={"width": 1400, "height": 2000}).new_page()
                pg.set_default_timeout(60000)
                pg.goto(url + "/stream")
                pg.wait_for_selector("text=Source")
                pg.get_by_text("Live", exact=True).click()
                pg.frame_locator('iframe[title*="streamlit_webrtc"]').get_by_role(
                    "button", name="Start listening").click()
                t0 = time.monotonic()
                while time.monotonic() - t0 < args.seconds:
                    pg.wait_for_timeout(1000)
                body = pg.inner_text("body")
                b.close()
    if os.environ.get("DEBUG"):
        print(body[:1500], file=sys.stderr)
    m = re.search(r"Words appear here ([\d.]+) s after they end \(median; 95th percentile ([\d.]+) s, (\d+) words", body)
    heard = re.search(r"Heard: (.*)", body)
    rec_s = re.search(r"([\d.]+) s recorded from", body)
    print(json.dumps({
        "benchmark": "browser_live", "audio": STREAM.name, "listened_s": float(rec_s.group(1)) if rec_s else None,
        "words_heard": int(m.group(3)) if m else 0,
        "shown_after_word_end_s": {"median": float(m.group(1)), "p95": float(m.group(2))} if m else None,
        "last_heard": heard.group(1).strip() if heard else "",
        "target_p95_s": 1.0}))


if __name__ == "__main__":
    main()

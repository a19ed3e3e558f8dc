"""Teaching words in a real browser: a Streamlit server and headless Chromium (Playwright)
whose fake microphone plays a recording of the word to teach.

Chromium plays one WAV file for every recording of a browser launch (from its start each
time the page opens the microphone), so each word is recorded in a launch of its own: five
takes of kiwi, then five of lime and training, then a held-out kiwi of the same voice in a
new session (which also finds the stored model: a reload keeps it). Skipped without playwright and
/usr/bin/chromium unless HMMREC_REQUIRE_BROWSER=1 (see test_dashboard_browser.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from helpers import sound_files
from test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_TIMEOUT_MS,
    VIEWPORT,
    _no_exception,
    _require_browser,
    _screenshot,
    _settle,
    fake_microphone_args,
    streamlit_server,
)

from hmmrec import HMMRecognizer, audio

pytestmark = pytest.mark.slow

SR = 16000
LEAD_S, TAIL_S = 0.5, 3.0  # silence before the word in the fake microphone's file, and after it
RECORD_MS = 2200  # how long each take is recorded: the word and some silence, not the file's next loop
TAKES = 5


def microphone_wav(word_file: Path, out: Path) -> Path:
    """The microphone's file: a word between half a second and three seconds of silence."""
    y, _ = audio.load(word_file, SR)
    audio.write_wav(out, np.concatenate([np.zeros(int(LEAD_S * SR), np.float32), y,
                                         np.zeros(int(TAIL_S * SR), np.float32)]), SR)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("teach_store")


@pytest.fixture(scope="module")
def server(fruit_model_path, tmp_path_factory, store):
    """A Streamlit server of dashboard/app.py with its own store folder; yields its URL."""
    _require_browser()
    with streamlit_server(tmp_path_factory.mktemp("streamlit_teach") / "server.log",
                          HMMREC_DASHBOARD_MODEL=str(fruit_model_path), HMMREC_DASHBOARD_STORE=str(store)) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


class Browser:
    """One Chromium launch whose microphone plays ``wav``, and one page of it."""

    def __init__(self, playwright, wav: Path):
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                  args=CHROMIUM_ARGS + fake_microphone_args(wav))
        self.page = self.browser.new_context(viewport=VIEWPORT).new_page()
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)

    def __enter__(self):
        return self.page

    def __exit__(self, *exc):
        self.browser.close()


def open_teach(pg, server: str) -> None:
    pg.goto(f"{server}/teach")
    pg.wait_for_selector("h1:has-text('Teach words')")
    _settle(pg)


def type_words(pg, words: str) -> None:
    box = pg.get_by_label("Words to teach, separated by commas")
    box.fill(words)
    box.press("Enter")
    _settle(pg)


def record_with(pg, recorder) -> None:
    """Press the recorder's button, let the microphone play, press stop."""
    recorder.get_by_role("button", name="Record", exact=True).click()
    pg.wait_for_timeout(RECORD_MS)
    recorder.get_by_role("button", name="Stop recording", exact=True).click()


def record_takes(pg, word: str, store: Path) -> None:
    for k in range(1, TAKES + 1):
        recorder = pg.locator('[data-testid="stAudioInput"]', has_text=f"say “{word}”")
        assert recorder.count() == 1, pg.inner_text("body")[:2000]
        record_with(pg, recorder)
        pg.wait_for_selector(f"text={word} · {k} of {TAKES} takes")
        _settle(pg)
        _no_exception(pg)
        assert (store / "takes" / word / f"{k}.wav").is_file()
    _settle(pg)
    assert not pg.locator('[data-testid="stAudioInput"]', has_text=f"say “{word}”").count()


def test_teach_two_words_in_the_browser_and_recognise_a_held_out_take(playwright, server, store, tmp_path):
    kiwi, lime = sound_files("train", "kiwi")[0], sound_files("train", "lime")[0]
    held_out = sound_files("train", "kiwi")[1]  # the second take of the voice that said the first
    t0 = time.monotonic()

    # first launch: the microphone says kiwi; five takes, each trimmed to the word and a little silence
    with Browser(playwright, microphone_wav(kiwi, tmp_path / "kiwi.wav")) as pg:
        open_teach(pg, server)
        type_words(pg, "kiwi, lime")
        record_takes(pg, "kiwi", store)
        assert "Take 5 as recorded" in pg.inner_text("body")
        _screenshot(pg, "teach_takes")
    word_s = audio.info(kiwi).duration_s
    for k in range(1, TAKES + 1):
        kept = audio.info(store / "takes" / "kiwi" / f"{k}.wav").duration_s
        assert kept < RECORD_MS / 1000 - 0.5 and kept > word_s - 0.3, (k, kept, word_s)

    # second launch (another session): kiwi's takes are there; five takes of lime, then train on them
    with Browser(playwright, microphone_wav(lime, tmp_path / "lime.wav")) as pg:
        open_teach(pg, server)
        assert pg.get_by_label("Words to teach, separated by commas").input_value() == "kiwi"
        type_words(pg, "kiwi, lime")
        assert "kiwi · 5 of 5 takes" in pg.inner_text("body")
        record_takes(pg, "lime", store)
        pg.locator(".st-key-teach_train button").click()
        pg.wait_for_selector("text=it is now the model on every page", timeout=120_000)
        _settle(pg)
        _no_exception(pg)
        (model,) = (store / "models").glob("*.model")
        assert sorted(HMMRecognizer.load(model).classes_) == ["kiwi", "lime"]
        sidebar = pg.locator('[data-testid="stSidebar"]').inner_text()
        assert model.stem in sidebar and "2 labels: kiwi, lime" in sidebar
        _screenshot(pg, "teach_trained")
        # try it live: the Stream page in live mode, with the new model
        pg.get_by_role("button", name="Try it live").click()
        pg.wait_for_url(f"{server}/stream", timeout=PAGE_TIMEOUT_MS)
        pg.wait_for_selector("h1:has-text('Stream')")
        _settle(pg)
        _no_exception(pg)
        assert pg.frame_locator('iframe[title*="streamlit_webrtc"]').get_by_role(
            "button", name="Start listening").count() == 1
        assert "2 labels: kiwi, lime" in pg.locator('[data-testid="stSidebar"]').inner_text()
    elapsed = time.monotonic() - t0

    # third launch: a held-out kiwi; a new session finds the stored model in the picker and recognises it
    with Browser(playwright, microphone_wav(held_out, tmp_path / "held_out.wav")) as pg:
        open_teach(pg, server)
        pg.locator('[data-testid="stSidebar"]').get_by_text(model.stem).click()
        _settle(pg)
        assert "2 labels: kiwi, lime" in pg.locator('[data-testid="stSidebar"]').inner_text()
        record_with(pg, pg.locator('[data-testid="stAudioInput"]', has_text="Say one of the words"))
        pg.wait_for_selector('[data-testid="stMetricValue"]')
        _settle(pg)
        _no_exception(pg)
        assert pg.locator('[data-testid="stMetricValue"]').first.inner_text().strip() == "kiwi"
        _screenshot(pg, "teach_try")
    print(f"teach flow: two words x {TAKES} takes recorded and trained in {elapsed:.0f} s (browser time)")

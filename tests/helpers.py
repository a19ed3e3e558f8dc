"""Plain test helpers and constants: paths to the shipped corpus, the small training and test
sets, shared datasets, a dashboard server. Test files import them with ``from helpers import
...`` (pytest puts ``tests/`` on ``sys.path``; ``benchmarks/browser_live.py`` too);
``conftest.py`` holds only fixtures."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np

import pytest

REPO = Path(__file__).parent.parent
SOUNDS = REPO / "sounds"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

FRUIT_LABELS = ["apple", "banana", "kiwi", "lime", "orange", "peach", "pineapple", "_silence_"]
# the subset the session model is trained on (small, so that it trains in a few seconds)
SMALL_LABELS = ["kiwi", "orange", "pineapple", "_silence_"]
SMALL_FILES_PER_LABEL = 6


def shared_dataset(relpath: str) -> Path:
    """Path of ``../shared/datasets/<relpath>``; skip (or fail with HMMREC_REQUIRE_SHARED=1) if absent."""
    p = SHARED_DATASETS / relpath
    if p.exists():
        return p
    msg = f"../shared/datasets/{relpath} not present (fresh clone); set HMMREC_REQUIRE_SHARED=1 to require it"
    if os.environ.get("HMMREC_REQUIRE_SHARED") == "1":
        pytest.fail(f"../shared/datasets/{relpath} not present but HMMREC_REQUIRE_SHARED=1")
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def dashboard_server(argv_for_port, log: Path, start_s: float = 90.0, **env):
    """Run the Streamlit server ``argv_for_port(port)`` starts, on a free port of 127.0.0.1,
    with ``env`` added to its environment and its output in ``log``; yield its URL once it
    answers its health check, and stop it afterwards. RuntimeError (with the log's end) if
    it does not start within ``start_s`` seconds."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv_for_port(port), cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1", **env),
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_s
        while not healthy(url + "/_stcore/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sound_files(split: str, label: str, n: int | None = None) -> list[Path]:
    """Sorted WAV files of ``sounds/<split>/<label>``, the first ``n`` of them."""
    files = sorted((SOUNDS / split / label).glob("*.wav"))
    assert files, f"no files in {SOUNDS / split / label}"
    return files if n is None else files[:n]


def small_train_set() -> tuple[list[str], list[str]]:
    X, y = [], []
    for label in SMALL_LABELS:
        for f in sound_files("train", label, SMALL_FILES_PER_LABEL):
            X.append(str(f))
            y.append(label)
    return X, y


def small_test_set() -> tuple[list[str], list[str]]:
    X, y = [], []
    for label in SMALL_LABELS:
        for f in sound_files("test", label):
            X.append(str(f))
            y.append(label)
    return X, y


def wav_bytes(y, sr: int = 16000) -> bytes:
    """A float signal as the bytes of a 16-bit mono WAV file (an upload, a recording)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def no_trouble(at) -> None:
    """A Streamlit AppTest run showed neither an exception nor an error message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def quick_training(at) -> None:
    """The Train & evaluate page's settings for a training of a few seconds: one Gaussian, no
    training copies, no discriminative step, one process."""
    at.slider(key="train_mix").set_value(1)
    at.checkbox(key="train_speeds").set_value(False)
    at.checkbox(key="train_mmi").set_value(False)
    at.selectbox(key="train_jobs").set_value(1)


# -- model files taken apart and put together again (tests of damaged files) --
def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def model_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def header_of(arrays) -> dict:
    return json.loads(bytes(arrays["header"]).decode("utf-8"))


def with_header(arrays, header: dict) -> dict:
    return {**arrays, "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}

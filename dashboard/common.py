"""Shared helpers of the dashboard pages: the model, audio inputs, session state.

Everything that recognises, trains or scores calls the :mod:`hmmrec` API; this module
only loads things and keeps them in Streamlit's caches and session state. Charts are in
:mod:`charts`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from hmmrec import HMMRecognizer, audio
from hmmrec.corpus import load_corpus
from hmmrec.errors import HmmrecError

DASHBOARD = Path(__file__).resolve().parent
REPO = DASHBOARD.parent
SOUNDS = REPO / "sounds"
MODEL_ENV = "HMMREC_DASHBOARD_MODEL"
MAX_CLIP_S = 30.0  # the Recognize page takes one word (or a short phrase)
MAX_STREAM_S = 600.0  # the Stream page takes recordings up to 10 minutes
MAX_LISTED_FILES = 5000
CACHE_MARK = "hmmrec-dashboard:sounds/train"
BUILTIN_MODEL_PARAMS = {"n_jobs": 1}  # hmmrec's defaults otherwise (one process: the server stays responsive)
AUDIO_INPUT_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)

# -- the model -------------------------------------------------------------------------
@dataclass
class ModelInfo:
    """The recognizer a page shows, and where it came from."""

    rec: HMMRecognizer
    key: str  # identifies the model in per-session result caches
    name: str
    source: str


def model_path_argument() -> str | None:
    """``--model PATH`` after ``--`` on the ``streamlit run`` line, else $HMMREC_DASHBOARD_MODEL."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model")
    try:
        ns, _ = parser.parse_known_args(sys.argv[1:])
    except SystemExit:  # "--model" without a value
        ns = argparse.Namespace(model=None)
    return ns.model or os.environ.get(MODEL_ENV) or None


def cache_file() -> Path:
    """Where the model of the built-in ``sounds/`` is kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hmmrec" / "sounds.model"


def _corpus_fingerprint(folder: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*.wav")):
        h.update(f"{p.relative_to(folder)}:{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def _builtin_stamp(train_dir: Path) -> dict:
    """What a cached built-in model must have been made from: these files, this hmmrec, these settings.

    A model cached by an older hmmrec (other defaults) is trained anew, not shown stale.
    """
    from hmmrec import __version__

    params = {k: v for k, v in HMMRecognizer(**BUILTIN_MODEL_PARAMS).get_params().items()
              if k not in ("n_jobs", "verbose", "feature_config")}
    stamp = {"mark": CACHE_MARK, "fingerprint": _corpus_fingerprint(train_dir), "hmmrec": __version__,
             "params": params}
    return json.loads(json.dumps(stamp))  # as it reads back from a model file (tuples are lists)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model_file(path: str, mtime: float) -> HMMRecognizer:
    """A model file, read once per (path, modification time) for all sessions."""
    return HMMRecognizer.load(path)


@st.cache_resource(show_spinner="Preparing word models for the built-in sounds/ "
                                 "(the first time this trains them: up to a minute or two)…")
def builtin_model() -> tuple[HMMRecognizer, str]:
    """A model of ``sounds/train``: from the user cache file if it is ours and current, else trained."""
    train_dir = SOUNDS / "train"
    if not train_dir.is_dir():
        raise HmmrecError(f"{train_dir}: not found; start the dashboard with --model PATH")
    stamp = _builtin_stamp(train_dir)
    cf = cache_file()
    ours = not cf.exists()
    if cf.exists():
        try:
            rec = HMMRecognizer.load(cf)
        except HmmrecError:
            rec = None
        if rec is not None:
            mark = rec.training_summary_.get("dashboard")
            if mark == stamp:
                return rec, f"cached model {cf}"
            ours = isinstance(mark, dict) and mark.get("mark") == CACHE_MARK
    corpus = load_corpus(train_dir)
    rec = HMMRecognizer(**BUILTIN_MODEL_PARAMS).fit(corpus.paths, corpus.y)
    rec.training_summary_["dashboard"] = stamp
    if not ours:
        return rec, (f"trained on {train_dir}; not cached, because {cf} is not a model file of ours "
                     "(remove it to cache one there)")
    try:
        cf.parent.mkdir(parents=True, exist_ok=True)
        rec.save(cf, overwrite=True)
    except (OSError, HmmrecError) as exc:
        return rec, f"trained on {train_dir} (not cached: {exc})"
    return rec, f"trained on {train_dir}, cached in {cf}"


def default_model() -> ModelInfo:
    """The model given on the command line (or in $HMMREC_DASHBOARD_MODEL), else the built-in one."""
    path = model_path_argument()
    if path:
        p = Path(path).expanduser()
        mtime = p.stat().st_mtime if p.is_file() else 0.0
        rec = load_model_file(str(p), mtime)
        return ModelInfo(rec, f"file:{p}:{mtime}", p.name, str(p))
    rec, how = builtin_model()
    return ModelInfo(rec, f"builtin:{id(rec)}", "built-in sounds/ model", how)


SESSION_MODELS = "session_models"  # name -> ModelInfo trained in this session
MODEL_CHOICE = "model_choice"


def current_model(show_error: bool = True) -> ModelInfo | None:
    """The model this session looks at, or None (with an error shown) if there is none."""
    trained = st.session_state.get(SESSION_MODELS, {})
    choice = st.session_state.get(MODEL_CHOICE)
    if choice in trained:
        return trained[choice]
    try:
        return default_model()
    except (HmmrecError, OSError) as exc:
        if show_error:
            st.error(f"No model to show: {exc}")
    return None


def require_model() -> ModelInfo:
    """The current model; stops the page with a message if there is none."""
    info = current_model()
    if info is None:
        st.info("Train one on the **Train & evaluate** page, or start the dashboard with `--model PATH`.")
        st.stop()
    return info


def add_session_model(rec: HMMRecognizer, name: str, source: str) -> ModelInfo:
    models = st.session_state.setdefault(SESSION_MODELS, {})
    info = ModelInfo(rec, f"session:{name}:{id(rec)}", name, source)
    models[name] = info
    return info


def choose_session_model(name: str) -> None:
    """Widget callback: show the session model ``name`` on every page."""
    st.session_state[MODEL_CHOICE] = name


def model_sidebar() -> None:
    """The model picker and a short description, in the sidebar."""
    trained = st.session_state.get(SESSION_MODELS, {})
    with st.sidebar:
        if trained:
            options = ["(default)"] + list(trained)
            st.radio("Model", options, key=MODEL_CHOICE,
                     help="Models trained on the Train & evaluate page in this session.")
    info = current_model(show_error=False)  # loads (or trains) it, with the spinner on the page
    with st.sidebar:
        if info is not None:
            rec = info.rec
            cfg = rec.feature_config_
            words = ", ".join(md(c) for c in rec.classes_)
            st.caption(f"**{md(info.name)}** · {len(rec.classes_)} labels: {words} · "
                       f"{cfg.n_features} features at {cfg.sr} Hz  \n{md(info.source)}")


def md(text) -> str:
    """Text shown literally inside Markdown (labels like ``_silence_`` would turn italic)."""
    return "".join("\\" + ch if ch in "\\`*_[]<>#|~" else ch for ch in str(text))


# -- audio -------------------------------------------------------------------------------
@dataclass
class Clip:
    """A signal at the model's rate, and what to call it."""

    y: np.ndarray
    sr: int
    name: str

    @property
    def duration_s(self) -> float:
        return len(self.y) / self.sr


def _too_long(name: str, seconds: float, max_s: float) -> HmmrecError:
    return HmmrecError(f"{name} is {seconds:.1f} s long; this page takes recordings up to {max_s:.0f} s"
                       + (" (use the Stream page for long recordings)" if max_s <= MAX_CLIP_S else ""))


def read_path(path, sr: int, max_s: float = MAX_CLIP_S, name: str | None = None) -> Clip:
    """A WAV file as a :class:`Clip`; :class:`HmmrecError` with a readable message if unusable."""
    name = name or Path(path).name
    try:
        wi = audio.info(path)
        if wi.duration_s > max_s:
            raise _too_long(name, wi.duration_s, max_s)
        y, sr = audio.load(path, sr)
    except HmmrecError as exc:
        raise HmmrecError(str(exc).replace(str(path), name)) from None
    if not len(y):
        raise HmmrecError(f"{name}: contains no audio samples")
    return Clip(y, sr, name)


def read_upload(uploaded, sr: int, max_s: float = MAX_CLIP_S) -> Clip:
    """An uploaded or recorded file (Streamlit ``UploadedFile``) as a :class:`Clip`."""
    data = uploaded.getvalue()
    name = uploaded.name or "recording.wav"
    if not data:
        raise HmmrecError(f"{name}: the file is empty")
    fd, tmp = tempfile.mkstemp(suffix=".wav", prefix="hmmrec-upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return read_path(tmp, sr, max_s, name=name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def upload_key(uploaded) -> str:
    """A stable identity of an uploaded file (for per-session result caches)."""
    return "upload:" + hashlib.sha1(uploaded.getvalue()).hexdigest()


def list_wavs(folder) -> list[str]:
    """WAV files under ``folder`` (relative paths, sorted; at most MAX_LISTED_FILES)."""
    root = Path(folder)
    out = []
    for p in sorted(root.rglob("*.wav")):
        out.append(str(p.relative_to(root)))
        if len(out) >= MAX_LISTED_FILES:
            break
    return out


def sound_folders() -> list[str]:
    """Folders of the built-in corpus, as choices for file pickers."""
    return [str(SOUNDS / sub) for sub in ("test", "train", "streams") if (SOUNDS / sub).is_dir()]


# -- recognition results ------------------------------------------------------------------
@dataclass
class Scores:
    """What the recognizer says about one clip."""

    labels: list
    loglik: np.ndarray  # (n_labels,)
    proba: np.ndarray  # (n_labels,)
    n_frames: int

    @property
    def best(self) -> int:
        return int(np.argmax(self.loglik))

    @property
    def winner(self) -> str:
        return str(self.labels[self.best])


def score_clip(rec: HMMRecognizer, y: np.ndarray) -> Scores:
    feats = rec.features([y])[0]
    ll = rec.loglik_features(feats)
    proba = rec.proba_from_loglik(ll, len(feats))[0]
    return Scores([str(c) for c in rec.classes_], ll, proba, len(feats))


# -- streaming -----------------------------------------------------------------------------
def read_truth(wav_path) -> pd.DataFrame | None:
    """The ``<name>.csv`` truth list next to a stream recording (label,start,end), if any."""
    p = Path(wav_path).with_suffix(".csv")
    if not p.is_file():
        return None
    try:
        df = pd.read_csv(p)
    except Exception:  # a malformed truth file only means no truth lane
        return None
    if not {"label", "start", "end"} <= set(df.columns):
        return None
    return df[["label", "start", "end"]]


class StreamRun:
    """A file pushed through a :class:`~hmmrec.stream.StreamRecognizer` (events + window history)."""

    def __init__(self, rec, y: np.ndarray, sensitivity: float, chunk_s: float = 0.5, progress=None):
        from hmmrec.stream import StreamRecognizer

        sr = rec.feature_config_.sr
        sr_rec = StreamRecognizer(rec, sensitivity=sensitivity, keep_history=True)
        self.window_s, self.hop_s = sr_rec.window_s, sr_rec.hop_s
        events = []
        step = max(1, int(chunk_s * sr))
        for i in range(0, len(y), step):
            events.extend(sr_rec.push(y[i:i + step]))
            if progress is not None:
                progress(min(1.0, (i + step) / max(len(y), 1)))
        events.extend(sr_rec.flush())
        self.events = events
        self.history = list(sr_rec.history)
        self.scorer = sr_rec.scorer


# -- live microphone ---------------------------------------------------------------------------
def microphone_problem() -> str | None:
    """Why live capture cannot work on this server (no PortAudio, no input device), or None."""
    from hmmrec.live import resolve_device

    try:
        resolve_device(None)
    except HmmrecError as exc:
        return f"{exc}."
    except Exception as exc:  # PortAudio failing to initialise in some other way
        return f"audio input is not available ({exc})."
    return None


# -- training progress -------------------------------------------------------------------------
_PROGRESS_LINE = re.compile(r"^\[(\d+)/(\d+)\]\s+(\S+):")


class ProgressLines(io.TextIOBase):
    """A stderr stand-in that turns HMMRecognizer(verbose=1) lines into progress callbacks."""

    def __init__(self, on_line, forward=None):
        self._on_line = on_line
        self._forward = forward
        self._buf = ""
        self._owner = threading.get_ident()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self._forward is not None:
            self._forward.write(s)
        if threading.get_ident() != self._owner:  # another session's thread: not ours
            return len(s)
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._on_line(line)
        return len(s)


def fit_with_progress(rec: HMMRecognizer, X, y, progress, sample_weight=None) -> HMMRecognizer:
    """``rec.fit(X, y, sample_weight)`` with ``progress(fraction, text)`` calls (parsed from verbose output)."""
    t0 = time.perf_counter()

    def on_line(line: str):
        m = _PROGRESS_LINE.match(line)
        if m:
            i, n, label = int(m.group(1)), int(m.group(2)), m.group(3)
            then = " · discriminative training…" if i == n and rec.mmi_iter else ""
            progress(0.15 + 0.8 * i / n, f"trained {label} ({i}/{n}) · {time.perf_counter() - t0:.0f} s{then}")
        elif line.startswith("features:"):
            progress(0.15, f"{line} · training the word models…")

    rec.set_params(verbose=1)
    progress(0.02, f"extracting features of {len(X)} files…")
    try:
        with contextlib.redirect_stderr(ProgressLines(on_line, sys.__stderr__)):
            rec.fit(X, y, sample_weight=sample_weight)
    finally:
        rec.set_params(verbose=0)
    progress(1.0, f"done in {time.perf_counter() - t0:.1f} s")
    return rec

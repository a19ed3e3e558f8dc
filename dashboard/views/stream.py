"""Stream: a long recording (or the server's microphone) through the streaming recognizer."""

from __future__ import annotations

import threading
import time

import numpy as np
import streamlit as st

import charts
import inputs
import modelstore
import streaming
import ui
from hmmrec.errors import HmmrecError
from hmmrec.live import MicrophoneSource
from hmmrec.stream import (DEFAULT_SENSITIVITY, StreamRecognizer, sensitivity_to_min_posterior,
                           sensitivity_to_threshold)

SOURCE_FILE = ":material/audio_file: Recording"
SOURCE_UPLOAD = ":material/upload: Upload a WAV"
SOURCE_LIVE = ":material/mic: Live microphone"
SOURCES = [SOURCE_FILE, SOURCE_UPLOAD, SOURCE_LIVE]
RESULTS = "stream_results"  # (model key, source key, sensitivity) -> StreamRun
MAX_KEPT_RESULTS = 6
LIVE = "stream_live"  # the running LiveSession of this browser session
LIVE_REFRESH_S = 0.5
LIVE_SHOWN_S = 12.0  # seconds of audio the live view shows
LIVE_MAX_S = 600.0  # a live session stops by itself after this long
LIVE_ORPHAN_S = 20.0  # ... or when the page has not collected audio for this long

st.title("Stream")
st.caption("A sliding window scores every word model a few times a second; a keyword is reported when its "
           "score beats the background by more than the threshold that the sensitivity sets, and the word, cut "
           "out and classified on its own, gets the posterior the sensitivity asks for.")

info = modelstore.require_model()
rec = info.rec
cfg = rec.feature_config_

c1, c2 = st.columns([2, 1])
with c1:
    source = st.segmented_control("Source", SOURCES, default=SOURCE_FILE, key="stream_source")
with c2:
    sensitivity = st.slider("Sensitivity", 0.0, 1.0, DEFAULT_SENSITIVITY, 0.05, key="stream_sensitivity",
                            help="0: fewest false alarms · 1: fewest misses")
threshold = sensitivity_to_threshold(sensitivity)


def show_results(y, run, truth=None, name="stream"):
    chart = charts.timeline_chart(y, cfg.sr, run.events, run.history, run.scorer, threshold, sensitivity,
                                  truth=truth, name=name)
    charts.show_chart(chart, key=f"{name}_timeline")
    events = charts.events_frame(run.events)
    st.markdown(f"**{len(events)} keyword event{'s' if len(events) != 1 else ''}** · window {run.window_s:.2f} s, "
                f"hop {run.hop_s:.2f} s, threshold {threshold:.2f} nats/frame, "
                f"word check: posterior at least {sensitivity_to_min_posterior(sensitivity):.2f}")
    if len(events):
        st.dataframe(events, hide_index=True, width="stretch", column_config={
            "start": st.column_config.NumberColumn("start (s)", format="%.2f"),
            "end": st.column_config.NumberColumn("end (s)", format="%.2f"),
            "score": st.column_config.NumberColumn("score (nats/frame)", format="%.2f"),
            "time": st.column_config.NumberColumn("decided at (s)", format="%.2f"),
            "latency": st.column_config.NumberColumn("latency (s)", format="%.2f"),
        })


def run_cached(key, y):
    """The recording pushed through a StreamRecognizer, computed once per model, audio and sensitivity."""
    results = st.session_state.setdefault(RESULTS, {})
    full_key = (info.key, key, round(sensitivity, 3))
    if full_key not in results:
        bar = st.progress(0.0, text="streaming…")
        t0 = time.perf_counter()
        try:
            run = streaming.StreamRun(rec, y, sensitivity,
                                   progress=lambda f: bar.progress(f, text=f"streaming… {f * len(y) / cfg.sr:.1f} s"))
        except HmmrecError as exc:
            bar.empty()
            st.error(f"Cannot stream this recording: {exc}")
            st.stop()
        bar.empty()
        st.toast(f"streamed {len(y) / cfg.sr:.1f} s of audio in {time.perf_counter() - t0:.1f} s")
        while len(results) >= MAX_KEPT_RESULTS:
            results.pop(next(iter(results)))
        results[full_key] = run
    return results[full_key]


def file_source():
    folders = [f for f in inputs.sound_folders() if f.endswith("streams")] + inputs.sound_folders()
    folders = list(dict.fromkeys(folders)) + ["Other folder…"]
    a, b = st.columns([1, 2])
    folder = a.selectbox("Folder", folders, key="stream_folder")
    if folder == "Other folder…":
        folder = a.text_input("Folder on the server", key="stream_other_folder", placeholder="/path/to/recordings")
        if not folder:
            return
    try:
        root = inputs.allowed_path(folder)
    except HmmrecError as exc:
        st.error(str(exc))
        return
    files = inputs.list_wavs(root) if root.is_dir() else []
    if not files:
        st.warning(f"{folder}: no WAV files here")
        return
    rel = b.selectbox("Recording", files, key=f"stream_file:{root}")
    path = root / rel
    try:
        clip = inputs.read_path(path, cfg.sr, max_s=inputs.MAX_STREAM_S)
    except HmmrecError as exc:
        st.error(f"Cannot use this recording: {exc}")
        return
    stat = path.stat()
    run = run_cached(f"file:{path}:{stat.st_mtime}:{stat.st_size}", clip.y)
    truth = inputs.read_truth(path)
    if truth is not None:
        st.caption(f"Truth from {path.with_suffix('.csv').name}: {len(truth)} words.")
    show_results(clip.y, run, truth)


def upload_source():
    up = st.file_uploader("A recording (WAV, FLAC, OGG, MP3; up to 10 minutes)", type=inputs.UPLOAD_TYPES,
                          key="stream_upload")
    if up is None:
        st.info("Upload a recording with a few of the model's words in it.")
        return
    try:
        clip = inputs.read_upload(up, cfg.sr, max_s=inputs.MAX_STREAM_S)
    except HmmrecError as exc:
        st.error(f"Cannot use this recording: {exc}")
        return
    run = run_cached(inputs.upload_key(up), clip.y)
    show_results(clip.y, run)


class LiveSession:
    """The server microphone feeding a StreamRecognizer, kept in this browser session's state.

    :class:`hmmrec.live.MicrophoneSource` captures in the background (its callback only
    queues blocks); :meth:`pump`, called from a fragment every half second, drains the
    queue into the recognizer. A watchdog releases the device if nobody pumps for
    ``LIVE_ORPHAN_S`` (the browser tab was closed).
    """

    def __init__(self, sens: float):
        self.mic = MicrophoneSource(sr=cfg.sr)
        self.recognizer = StreamRecognizer(rec, sensitivity=sens, keep_history=True)
        self.sensitivity = sens
        self.audio = np.zeros(0, dtype=np.float32)  # the last LIVE_SHOWN_S seconds
        self.events = []
        self.started = self.last_pump = time.monotonic()
        self.seconds = 0.0  # audio recognised so far
        self.stopped = False
        self._watchdog = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self.mic.start()
        self._watchdog.start()

    def _watch(self) -> None:
        while not self.stopped:
            if time.monotonic() - self.last_pump > LIVE_ORPHAN_S:
                self.mic.stop()
                return
            time.sleep(1.0)

    def pump(self) -> None:
        self.last_pump = time.monotonic()
        parts = []
        while True:
            try:
                chunk = self.mic.read(timeout=0)
            except StopIteration:
                break
            if chunk is None:
                break
            parts.append(chunk)
        if parts:
            y = np.concatenate(parts)
            self.events.extend(self.recognizer.push(y))
            self.audio = np.concatenate([self.audio, y])[-int(LIVE_SHOWN_S * cfg.sr):]
            self.seconds = self.recognizer.time
            cutoff = self.seconds - LIVE_SHOWN_S - 2.0
            self.recognizer.history[:] = [w for w in self.recognizer.history if w.end >= cutoff]

    def stop(self) -> None:
        if self.stopped:
            return
        self.mic.stop()
        self.pump()
        self.events.extend(self.recognizer.flush())
        self.stopped = True


def live_source():
    problem = streaming.microphone_problem()
    if problem:
        st.warning(f"Live mode records from the server's microphone, and there is none: {problem}")
        return
    live = st.session_state.get(LIVE)
    running = live is not None and not live.stopped
    bar = st.container(horizontal=True, vertical_alignment="center")
    if bar.button("Start", type="primary", icon=":material/mic:", disabled=running, key="stream_live_start"):
        if live is not None:
            live.stop()
        live = LiveSession(sensitivity)
        try:
            live.start()
        except HmmrecError as exc:
            st.warning(f"Could not open the microphone: {exc}")
            return
        st.session_state[LIVE] = live
        running = True
    if bar.button("Stop", icon=":material/stop:", disabled=not running, key="stream_live_stop"):
        live.stop()
        running = False
    bar.caption("Records from the server's default input device and updates twice a second. "
              "A new sensitivity applies from the next start.")
    if live is None:
        return

    @st.fragment(run_every=LIVE_REFRESH_S if running else None)
    def live_view():
        if not live.stopped:
            live.pump()
            if not live.mic.active or time.monotonic() - live.started > LIVE_MAX_S:
                live.stop()
        t_end = live.seconds
        t0 = max(0.0, t_end - len(live.audio) / cfg.sr)
        domain = [max(0.0, t_end - LIVE_SHOWN_S), max(t_end, LIVE_SHOWN_S)]
        thr = sensitivity_to_threshold(live.sensitivity)
        chart = charts.timeline_chart(live.audio, cfg.sr, live.events, live.recognizer.history, live.recognizer.scorer,
                                      thr, live.sensitivity, t0=t0, domain=domain, name="live")
        state = "listening" if not live.stopped else "stopped"
        last = ui.md(live.events[-1].label) if live.events else "—"
        st.markdown(f"**{state}** · {t_end:.1f} s recorded from {ui.md(live.mic.device_name)} · "
                    f"last word: **{last}** · {len(live.events)} events · {live.mic.overflows} blocks lost")
        charts.show_chart(chart, key="live_timeline")
        if live.events:
            st.dataframe(charts.events_frame(live.events[::-1]), hide_index=True, width="stretch")

    live_view()


if source == SOURCE_UPLOAD:
    upload_source()
elif source == SOURCE_LIVE:
    live_source()
else:
    file_source()

"""Stream: a long recording (or the server's microphone) through the streaming recognizer."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

import charts
import inputs
import modelstore
import streaming
import ui
from hmmrec.errors import HmmrecError
from hmmrec.labels import is_keyword
from hmmrec.live import MicrophoneSource
from hmmrec.spotting import MAX_FA_PER_HOUR, read_truth, score_events, sweep, truth_beside
from hmmrec.stream import (DEFAULT_SENSITIVITY, sensitivity_to_min_score,
                           sensitivity_to_threshold, strictest_score)

SOURCE_FILE, SOURCE_UPLOAD, SOURCE_LIVE = streaming.SOURCE_FILE, streaming.SOURCE_UPLOAD, streaming.SOURCE_LIVE
SOURCES = [SOURCE_FILE, SOURCE_UPLOAD, SOURCE_LIVE]
RESULTS = "stream_results"  # (model key, source key, sensitivity) -> StreamRun
MAX_KEPT_RESULTS = 6
CURVES = "stream_curves"  # (model key, source key) -> hmmrec.spotting.sweep of the recording
LIVE = "stream_live"  # the running LiveSession of this browser session
BROWSER_AUDIO = "stream_browser_audio"  # the BrowserAudio that WebRTC frames of this session go to
LIVE_REFRESH_S = 0.2  # the words heard
LIVE_CHART_REFRESH_S = 1.0  # the waveform and score curves
LIVE_SHOWN_S = 12.0  # seconds of audio the live view shows
LIVE_MAX_S = 600.0  # a live session stops by itself after this long
LIVE_ORPHAN_S = 20.0  # ... or when the page has not collected audio for this long

st.title("Stream")
st.caption("A sliding window scores every word model a few times a second; a keyword is reported when its "
           "margin over the background is above the threshold that the sensitivity sets, and the word, cut "
           "out and classified on its own, leads every other word far enough for the score the sensitivity "
           "asks for. Each event shows its score and its margin.")

info = modelstore.require_model()
rec = info.rec
cfg = rec.feature_config_

c1, c2 = st.columns([2, 1])
with c1:
    # another page may have chosen the source (Teach words: "Try it live"): then no default
    source = st.segmented_control("Source", SOURCES, key=streaming.SOURCE_KEY,
                                  default=None if streaming.SOURCE_KEY in st.session_state else SOURCE_FILE)
with c2:
    sensitivity = st.slider("Sensitivity", 0.0, 1.0, DEFAULT_SENSITIVITY, 0.01, key="stream_sensitivity",
                            help="0: fewest false alarms · 1: fewest misses")
strictest = strictest_score(rec)  # (where this model's strict end lies)
threshold = sensitivity_to_threshold(sensitivity, strictest)


def show_results(y, run, truth=None, name="stream"):
    chart = charts.timeline_chart(y, cfg.sr, run.events, run.history, run.scorer, threshold, sensitivity,
                                  truth=truth, name=name)
    charts.show_chart(chart, key=f"{name}_timeline")
    events = charts.events_frame(run.events)
    st.markdown(f"**{len(events)} keyword event{'s' if len(events) != 1 else ''}** · window {run.window_s:.2f} s, "
                f"hop {run.hop_s:.2f} s, threshold {threshold:.2f} nats/frame, "
                f"word check: score at least {sensitivity_to_min_score(sensitivity, strictest):.2f}")
    if len(events):
        st.dataframe(events, hide_index=True, width="stretch", column_config={
            "start": st.column_config.NumberColumn("start (s)", format="%.2f"),
            "end": st.column_config.NumberColumn("end (s)", format="%.2f"),
            "score": st.column_config.NumberColumn("score", format="%.2f"),
            "margin": st.column_config.NumberColumn("margin (nats/frame)", format="%.2f"),
            "time": st.column_config.NumberColumn("decided at (s)", format="%.2f"),
            "latency": st.column_config.NumberColumn("latency (s)", format="%.2f"),
        })


def run_cached(key, chunks, seconds: float):
    """The recording pushed through a StreamRecognizer in the command line's chunks, computed
    once per model, audio and sensitivity. ``chunks()`` gives its pieces afresh."""
    results = st.session_state.setdefault(RESULTS, {})
    full_key = (info.key, key, round(sensitivity, 3))
    if full_key not in results:
        bar = st.progress(0.0, text="streaming…")
        t0 = time.perf_counter()
        try:
            run = streaming.StreamRun(rec, chunks(), sensitivity,
                                      progress=lambda t: bar.progress(min(1.0, t / max(seconds, 1e-9)),
                                                                      text=f"streaming… {t:.1f} s"))
        except HmmrecError as exc:
            bar.empty()
            st.error(f"Cannot stream this recording: {exc}")
            st.stop()
        bar.empty()
        st.toast(f"streamed {seconds:.1f} s of audio in {time.perf_counter() - t0:.1f} s")
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
    key = f"file:{path}:{stat.st_mtime}:{stat.st_size}"
    # read as 'hmmrec stream' reads it: the same events at the same times
    run = run_cached(key, lambda: streaming.file_chunks(path, cfg.sr), clip.duration_s)
    truth, truth_path = None, truth_beside(path)
    if truth_path is not None:
        try:
            truth = read_truth(truth_path)
        except HmmrecError as exc:
            st.warning(f"The truth list is not used: {exc}")
    if truth is not None:
        st.caption(f"Truth from {truth_path.name}: {len(truth)} words.")
    show_results(clip.y, run, pd.DataFrame(truth, columns=["label", "start", "end"]) if truth is not None else None)
    if truth is not None:
        show_scoring(run, truth, clip.duration_s, path, key)


def show_scoring(run, truth, seconds: float, path, key) -> None:
    """The events against the truth list (as ``hmmrec kws`` scores them), and on request
    the whole curve of misses and false alarms over the sensitivities."""
    r = score_events(run.events, truth, seconds, keywords_of=rec.classes_)
    m1, m2, m3 = st.columns(3)
    m1.metric("Keywords found", f"{r['hits']} of {r['keywords']}",
              help="the truth list's words that are keywords of this model; its other words are to be ignored")
    m2.metric("False alarms", r["false_alarms"],
              help=f"{r['false_alarms_per_hour']:.1f} per hour; a keyword heard as another is a miss and a false alarm")
    m3.metric("Latency, 95%", "–" if r["latency_p95_s"] is None else f"{r['latency_p95_s']:.2f} s",
              help="from the end of a keyword to its event")
    if not st.toggle("Misses and false alarms at every sensitivity", key="stream_curve"):
        return
    curves = st.session_state.setdefault(CURVES, {})
    if (info.key, key) not in curves:
        with st.spinner("scoring the recording at every sensitivity…"):
            result = sweep(rec, path, truth)
        while len(curves) >= MAX_KEPT_RESULTS:
            curves.pop(next(iter(curves)))
        curves[(info.key, key)] = result
    result = curves[(info.key, key)]
    charts.show_chart(charts.spotting_curve_chart(result["rows"], sensitivity), key="stream_curve_chart")
    best = result["best"]
    st.caption(f"Fewest misses with at most {MAX_FA_PER_HOUR:g} false alarm per hour: {best['misses']} of "
               f"{best['keywords']} at sensitivity {best['sensitivity']:g} (as `hmmrec kws` scores it)."
               if best is not None else f"No sensitivity keeps to {MAX_FA_PER_HOUR:g} false alarm per hour.")


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
    run = run_cached(inputs.upload_key(up), lambda: streaming.clip_chunks(clip.y, cfg.sr), clip.duration_s)
    show_results(clip.y, run)


LIVE_BROWSER = ":material/language: Your browser's microphone"
LIVE_SERVER = ":material/dns: This server's microphone"


def live_source():
    where = st.segmented_control("Microphone", [LIVE_BROWSER, LIVE_SERVER], default=LIVE_BROWSER,
                                 key="stream_live_where", label_visibility="collapsed")
    if where == LIVE_SERVER:
        server_live()
    else:
        browser_live()


def _new_session(source) -> streaming.LiveSession:
    return streaming.LiveSession(rec, source, sensitivity, shown_s=LIVE_SHOWN_S, max_s=LIVE_MAX_S,
                                 orphan_s=LIVE_ORPHAN_S)


def browser_live():
    """The visitor's microphone through WebRTC (streamlit-webrtc): frames go into the same
    StreamRecognizer as files and the command line."""
    from streamlit_webrtc import WebRtcMode, create_audio_sink_track, webrtc_streamer

    audio_in = st.session_state.get(BROWSER_AUDIO)
    if audio_in is None or audio_in.sr != cfg.sr:
        audio_in = st.session_state[BROWSER_AUDIO] = streaming.BrowserAudio(cfg.sr)
    sink = create_audio_sink_track(audio_in.feed, key="hmmrec-browser-mic")
    ctx = webrtc_streamer(key="stream_browser_mic", mode=WebRtcMode.SENDONLY, sink_audio_track=sink,
                          media_stream_constraints={"audio": True, "video": False},
                          rtc_configuration={"iceServers": streaming.ice_servers()},
                          translations={"start": "Start listening", "stop": "Stop"})
    st.caption(f"Press **Start listening** and allow the microphone, then say one of: "
               f"{ui.md(', '.join(str(c) for c in rec.classes_ if is_keyword(str(c))))}.")
    live = st.session_state.get(LIVE)
    playing = bool(ctx.state.playing)
    if playing and (live is None or live.stopped or live.source is not audio_in or live.recognizer.recognizer is not rec):
        if live is not None:
            live.stop()
        audio_in.reset()
        live = st.session_state[LIVE] = _new_session(audio_in).start()
    elif not playing and live is not None and live.source is audio_in and not live.stopped:
        live.stop()
    if live is None or live.source is not audio_in:
        return
    live_view(live)


def server_live():
    problem = streaming.microphone_problem()
    if problem:
        st.warning(f"This server has no microphone to record from: {problem} "
                   "Use your browser's microphone instead.")
        return
    live = st.session_state.get(LIVE)
    if live is not None and isinstance(live.source, streaming.BrowserAudio):
        live = None
    running = live is not None and not live.stopped
    bar = st.container(horizontal=True, vertical_alignment="center")
    if bar.button("Start", type="primary", icon=":material/mic:", disabled=running, key="stream_live_start"):
        if live is not None:
            live.stop()
        try:
            live = _new_session(MicrophoneSource(sr=cfg.sr)).start()
        except HmmrecError as exc:
            st.warning(f"Could not open the microphone: {exc}")
            return
        st.session_state[LIVE] = live
        running = True
    if bar.button("Stop", icon=":material/stop:", disabled=not running, key="stream_live_stop"):
        live.stop()
    bar.caption("Records from the server's default input device (for a dashboard on your own machine).")
    if live is None:
        return
    live_view(live)


def live_view(live):
    if not live.stopped and abs(live.sensitivity - sensitivity) > 1e-9:
        live.set_sensitivity(sensitivity)  # the knob acts at once
    running = not live.stopped

    # two fragments: the words (cheap, redrawn often, so a word shows up soon after it
    # ends) and the charts (dearer, redrawn about once a second)
    @st.fragment(run_every=LIVE_REFRESH_S if running else None)
    def words():
        snap = live.snapshot(signals=False)
        state = "listening" if not snap["stopped"] else "stopped"
        events = snap["events"]
        last = ui.md(events[-1].label) if events else "—"
        st.markdown(f"**{state}** · {snap['seconds']:.1f} s recorded from {ui.md(live.source.device_name)} · "
                    f"last word: **{last}** · {len(events)} events · {live.source.overflows} blocks lost")
        heard = [(e.end, f"**{ui.md(e.label)}**") for e in events]
        heard += [(b, "*not one of my words*") for a, b in snap["not_words"]]
        if heard:
            st.markdown("Heard: " + " · ".join(f"{what} at {t:.1f} s" for t, what in sorted(heard)[-8:][::-1]))
        delays = list(snap["shown_after"].values())
        if delays:
            st.caption(f"Words appear here {np.median(delays):.2f} s after they end (median; 95th percentile "
                       f"{np.percentile(delays, 95):.2f} s, {len(delays)} words).")
        if snap["error"]:
            st.error(f"Listening stopped: {snap['error']}")
        if events:
            frame = charts.events_frame(events)
            frame["on the page after (s)"] = [snap["shown_after"].get(i) for i in range(len(events))]
            st.dataframe(frame.iloc[::-1], hide_index=True, width="stretch", height=180)

    @st.fragment(run_every=LIVE_CHART_REFRESH_S if running else None)
    def timeline():
        snap = live.snapshot()
        t_end = snap["seconds"]
        t0 = max(0.0, t_end - len(snap["audio"]) / cfg.sr)
        domain = [max(0.0, t_end - LIVE_SHOWN_S), max(t_end, LIVE_SHOWN_S)]
        thr = sensitivity_to_threshold(snap["sensitivity"], strictest)
        chart = charts.timeline_chart(snap["audio"], cfg.sr, snap["events"], snap["history"], live.recognizer.scorer,
                                      thr, snap["sensitivity"], t0=t0, domain=domain, name="live")
        charts.show_chart(chart, key="live_timeline")

    words()
    timeline()


if source == SOURCE_UPLOAD:
    upload_source()
elif source == SOURCE_LIVE:
    live_source()
else:
    file_source()

"""Live input: device listing and resolution, MicrophoneSource, listen, and the stream/listen/devices commands.

Most tests replace PortAudio with fakes (a fake ``sounddevice.InputStream`` that calls
the callback from a thread with blocks of a real WAV file). One test uses the real
thing: PortAudio -> ALSA "pulse" -> PulseAudio, with a virtual microphone
(``scripts/virtual_mic.sh``) into which ``paplay`` plays ``sounds/streams/stream1.wav``.
It is skipped when PulseAudio is missing, unless ``HMMREC_REQUIRE_AUDIO=1``.
"""

from __future__ import annotations

import builtins
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hmmrec import HMMRecognizer, audio, live, record
from hmmrec.cli import main
from hmmrec.errors import HmmrecError
from hmmrec.stream import DEFAULT_HOP_S, sensitivity_to_min_score, sensitivity_to_threshold

from helpers import FRUIT_LABELS, REPO, SOUNDS, sound_files

STREAM_WAV = SOUNDS / "streams" / "stream1.wav"
STREAM_CSV = SOUNDS / "streams" / "stream1.csv"
MIN_HITS = 6  # of the 8 words of stream1


# -- helpers ---------------------------------------------------------------------------------------
def read_truth(path=STREAM_CSV) -> list[dict]:
    with open(path, newline="") as fh:
        return [{"label": r["label"], "start": float(r["start"]), "end": float(r["end"])} for r in csv.DictReader(fh)]


def score_events(events: list[dict], truth: list[dict], offset: float | None = 0.0) -> dict:
    """Match events to truth words one to one: same label, intervals overlap after shifting
    events by ``-offset`` seconds. ``offset=None``: try the offsets that line up some event with
    some truth word of its label and keep the best (for live audio, whose start is unknown)."""

    def hits_at(off):
        used, hits = set(), []
        for t in truth:
            for i, e in enumerate(events):
                if i not in used and e["label"] == t["label"] and e["start"] - off < t["end"] \
                        and e["end"] - off > t["start"]:
                    used.add(i)
                    hits.append(t["label"])
                    break
        return hits

    candidates = [offset] if offset is not None else sorted(
        {round((e["start"] + e["end"]) / 2 - (t["start"] + t["end"]) / 2, 2)
         for e in events for t in truth if e["label"] == t["label"]}) or [0.0]
    counts = [len(hits_at(off)) for off in candidates]
    best = [off for off, n in zip(candidates, counts) if n == max(counts)]
    best_off = best[len(best) // 2]  # the middle of the offsets that match best
    hits = hits_at(best_off)
    return {"offset": best_off, "hits": len(hits), "missed": len(truth) - len(hits),
            "false_alarms": len(events) - len(hits)}


def describe(events, truth) -> str:
    ev = ", ".join(f"{e['label']}@{e['start']:.2f}-{e['end']:.2f}" for e in events)
    tr = ", ".join(f"{t['label']}@{t['start']:.2f}-{t['end']:.2f}" for t in truth)
    return f"events: [{ev}]\ntruth: [{tr}]"


# -- a trained model of all fruit words (the conftest one has only 3 keywords) --------------------
# Its own model: the tests that count the keywords found in stream1 (MIN_HITS of its 8 words, or at
# least one event) need every fruit word; tests that need just a trained model use fruit_model.
@pytest.fixture(scope="module")
def all_fruit_model():
    X, y = [], []
    for label in FRUIT_LABELS:
        for f in sound_files("train", label):
            X.append(str(f))
            y.append(label)
    return HMMRecognizer(n_mix=2, speeds=(), warps=(), noise_snrs=(), n_jobs=1).fit(X, y)


@pytest.fixture(scope="module")
def all_fruit_model_path(all_fruit_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "allfruit.model"
    all_fruit_model.save(path)
    return path


# -- fake PortAudio --------------------------------------------------------------------------------
FAKE_DEVICES = [
    {"name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "max_input_channels": 2, "max_output_channels": 2,
     "default_samplerate": 44100.0},
    {"name": "HDA Intel PCH: HDMI 0 (hw:0,3)", "max_input_channels": 0, "max_output_channels": 8,
     "default_samplerate": 44100.0},
    {"name": "USB PnP Sound Device: Audio (hw:2,0)", "max_input_channels": 1, "max_output_channels": 0,
     "default_samplerate": 48000.0},
    {"name": "pulse", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
    {"name": "default", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
]
FAKE_DEFAULT_INPUT = 4
HW_ONLY_44K = 0  # the fake device that cannot record at 16 kHz


class FakeInputStream:
    """Stands in for sounddevice.InputStream: a thread calls ``callback`` with blocks of ``signal``.

    Class attributes set by the tests: ``signal_at(sr) -> array`` (None: endless silence),
    ``overflow_blocks`` (block numbers flagged as input overflow), ``pace_s`` (sleep per block).
    """

    signal_at = None
    overflow_blocks: frozenset = frozenset()
    pace_s = 0.0
    mute = False
    instances: list = []

    def __init__(self, device=None, channels=None, samplerate=None, blocksize=None, dtype=None, callback=None,
                 **kwargs):
        self.kwargs = dict(device=device, channels=channels, samplerate=samplerate, blocksize=blocksize,
                           dtype=dtype, callback=callback, **kwargs)
        self.active = False
        self.closed = self.aborted = False
        self._halt = threading.Event()
        self._thread = None
        FakeInputStream.instances.append(self)

    def _run(self):
        import sounddevice

        k = self.kwargs
        bs, ch = k["blocksize"], k["channels"]
        if self.mute:  # a device that is open but delivers nothing
            self._halt.wait()
            return
        signal_at = type(self).signal_at  # a plain function, not bound to self
        y = None if signal_at is None else signal_at(int(k["samplerate"]))
        i = 0
        while not self._halt.is_set():
            if y is None:
                block = np.zeros(bs, np.float32)
            elif i * bs >= len(y):
                break
            else:
                block = np.zeros(bs, np.float32)
                piece = y[i * bs:(i + 1) * bs]
                block[: len(piece)] = piece
            status = sounddevice.CallbackFlags()
            if i in self.overflow_blocks:
                status.input_overflow = True
            indata = np.repeat(block[:, None], ch, axis=1)
            k["callback"](indata, bs, None, status)
            indata[:] = 99.0  # PortAudio reuses its buffer: the source must have copied
            i += 1
            if self.pace_s:
                time.sleep(self.pace_s)
        self.active = False

    def _run_then_finish(self):
        try:
            self._run()
        finally:
            self.active = False

    def start(self):
        self.active = True
        self._thread = threading.Thread(target=self._run_then_finish, daemon=True)
        self._thread.start()

    def stop(self):
        self._halt.set()
        if self._thread is not None:
            self._thread.join(5)
        self.active = False

    def abort(self):
        self.aborted = True
        self.stop()

    def close(self):
        self.closed = True


@pytest.fixture
def fake_sd(monkeypatch):
    """The real sounddevice module with devices, settings checks and InputStream faked."""
    sounddevice = pytest.importorskip("sounddevice", reason="sounddevice/PortAudio not importable")

    def query_devices(device=None, kind=None):
        devices = [dict(d, index=i, hostapi=0) for i, d in enumerate(FAKE_DEVICES)]
        if device is not None:
            return devices[int(device)]
        if kind == "input":
            return devices[FAKE_DEFAULT_INPUT]
        return devices

    def check_input_settings(device=None, channels=None, dtype=None, samplerate=None, **kw):
        if device == HW_ONLY_44K and samplerate != 44100:
            raise sounddevice.PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    FakeInputStream.instances = []
    FakeInputStream.signal_at = None
    FakeInputStream.overflow_blocks = frozenset()
    FakeInputStream.pace_s = 0.0
    FakeInputStream.mute = False
    monkeypatch.setattr(sounddevice, "query_devices", query_devices)
    monkeypatch.setattr(sounddevice, "check_input_settings", check_input_settings)
    monkeypatch.setattr(sounddevice, "default", SimpleNamespace(device=[FAKE_DEFAULT_INPUT, FAKE_DEFAULT_INPUT]))
    monkeypatch.setattr(sounddevice, "InputStream", FakeInputStream)
    return sounddevice


def wav_at(path):
    return lambda sr: audio.load(path, sr)[0]


# -- devices ---------------------------------------------------------------------------------------
def test_list_input_devices_keeps_inputs_and_marks_the_default(fake_sd):
    devices = live.list_input_devices()
    assert [d["index"] for d in devices] == [0, 2, 3, 4]  # the HDMI output is not an input
    assert [d["is_default"] for d in devices] == [False, False, False, True]
    usb = devices[1]
    assert usb == {"index": 2, "name": "USB PnP Sound Device: Audio (hw:2,0)", "channels": 1,
                   "default_samplerate": 48000.0, "is_default": False}


@pytest.mark.parametrize("spec, index", [
    (None, 4), (2, 2), ("2", 2), (" 0 ", 0), ("usb", 2), ("USB PnP", 2), ("ALC3246", 0),
    ("DEFAULT", 4), ("pulse", 3),
])
def test_resolve_device_by_index_or_name(fake_sd, spec, index):
    assert live.resolve_device(spec) == index


@pytest.mark.parametrize("spec, words", [
    ("hw:", ["several", "ALC3246", "USB PnP", "index"]),  # ambiguous: the matches are listed
    ("bluetooth", ["no input device matches 'bluetooth'", "0 'HDA Intel PCH: ALC3246", "4 'default'"]),
    (1, ["no input device with index 1", "2 'USB PnP"]),  # an output-only device
    (17, ["no input device with index 17"]),
])
def test_resolve_device_errors_list_the_choices(fake_sd, spec, words):
    with pytest.raises(HmmrecError) as exc:
        live.resolve_device(spec)
    for w in words:
        assert w in str(exc.value)


def test_no_microphone_is_a_clear_error(fake_sd, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(fake_sd, "query_devices",
                        lambda device=None, kind=None: [dict(FAKE_DEVICES[1], index=0, hostapi=0)])
    monkeypatch.setattr(fake_sd, "default", SimpleNamespace(device=[-1, 0]))
    with pytest.raises(HmmrecError, match="no microphone found: plug one in or choose one with --device"):
        live.resolve_device(None)
    with pytest.raises(HmmrecError, match="no microphone found"):
        live.MicrophoneSource().start()
    with pytest.raises(HmmrecError, match="no microphone found"):
        live.MicrophoneSource().check()
    assert main(["devices"]) == 1
    out, err = capsys.readouterr()  # `devices` does not send the reader back to itself
    assert err.strip() == "hmmrec: error: no microphone found: PortAudio sees no audio input device; plug a microphone in"
    # record says so before announcing any take, and creates no folder
    assert main(["record", "apple", "--count", "2", "--out", str(tmp_path / "mine"), "--no-wait"]) == 1
    out, err = capsys.readouterr()
    assert "take" not in out and "no microphone found" in err and not (tmp_path / "mine").exists()


def test_missing_portaudio_is_a_clear_error(monkeypatch, capsys):
    """sounddevice raises OSError('PortAudio library not found') on import without libportaudio."""
    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    for call in (live.list_input_devices, lambda: live.resolve_device(None), lambda: live.MicrophoneSource().start()):
        with pytest.raises(HmmrecError) as exc:
            call()
        assert str(exc.value) == ("PortAudio library not found: install it "
                                  "(Debian/Ubuntu: apt-get install libportaudio2)")
    assert main(["devices"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == ["hmmrec: error: PortAudio library not found: install it "
                                "(Debian/Ubuntu: apt-get install libportaudio2)"]


def test_portaudio_that_fails_to_start_is_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    class PortAudioError(Exception):
        pass

    def broken(name, *args, **kwargs):
        if name == "sounddevice":
            raise PortAudioError("Error querying host API -9999")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(HmmrecError, match="PortAudio could not start: Error querying host API"):
        live.list_input_devices()


def test_devices_command_lists_inputs_with_a_star_for_the_default(fake_sd, capsys):
    assert main(["devices"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    star = [ln for ln in lines if ln.startswith("*")]
    assert len(star) == 1 and " 4 " in star[0] and "default" in star[0] and "44100 Hz" in star[0]
    assert any("USB PnP Sound Device" in ln and "48000 Hz" in ln for ln in lines)
    assert not any("HDMI" in ln for ln in lines)
    assert main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["index"] for d in data] == [0, 2, 3, 4]


# -- MicrophoneSource ------------------------------------------------------------------------------
def test_microphone_source_hands_out_every_sample_in_order(fake_sd):
    y = audio.load(STREAM_WAV, 16000)[0][: 16000 * 3]
    FakeInputStream.signal_at = lambda sr: y
    with live.MicrophoneSource(sr=16000, block_s=0.05) as mic:
        got = np.concatenate(list(mic))
        assert mic.sr == 16000 and mic.device_sr == 16000 and mic.device_index == FAKE_DEFAULT_INPUT
    (stream,) = FakeInputStream.instances
    k = stream.kwargs
    assert (k["device"], k["channels"], k["samplerate"], k["blocksize"], k["dtype"]) == (4, 1, 16000, 800, "float32")
    assert stream.closed and not stream.active
    np.testing.assert_array_equal(got, y)  # nothing lost, doubled or clobbered by buffer reuse
    assert mic.overflows == 0


def test_microphone_source_resamples_when_the_device_cannot_do_the_rate(fake_sd):
    y16 = audio.load(STREAM_WAV, 16000)[0][: 16000 * 2]
    FakeInputStream.signal_at = lambda sr: audio.resample(y16, 16000, sr)
    with live.MicrophoneSource(device="ALC3246", sr=16000) as mic:
        got = np.concatenate(list(mic))
        assert (mic.sr, mic.device_sr) == (16000, 44100)
    assert FakeInputStream.instances[0].kwargs["samplerate"] == 44100
    assert FakeInputStream.instances[0].kwargs["blocksize"] == 4410
    assert abs(len(got) - len(y16)) < 200  # the resampler keeps a little tail back until flushed
    n = min(len(got), len(y16)) - 400
    assert np.corrcoef(got[400:n], y16[400:n])[0, 1] > 0.99


def test_overflow_flags_and_dropped_blocks_are_counted(fake_sd, monkeypatch):
    FakeInputStream.signal_at = lambda sr: np.zeros(sr * 2, np.float32)
    FakeInputStream.overflow_blocks = frozenset({3, 7, 11})
    with live.MicrophoneSource(block_s=0.1) as mic:
        chunks = list(mic)
    assert mic.overflows == 3 and mic.status_counts["input_overflow"] == 3 and mic.dropped == 0
    assert len(chunks) == 20
    # a consumer that falls more than MAX_BACKLOG_S behind loses blocks, and they count as overflows
    monkeypatch.setattr(live, "MAX_BACKLOG_S", 0.5)
    FakeInputStream.overflow_blocks = frozenset()
    with live.MicrophoneSource(block_s=0.1) as mic:
        FakeInputStream.instances[-1]._thread.join(5)  # the producer runs to the end first
        chunks = list(mic)
    assert len(chunks) == 5 and mic.dropped == 15 and mic.overflows == 15


def test_a_device_that_delivers_nothing_is_an_error_not_a_hang(fake_sd, monkeypatch):
    monkeypatch.setattr(live, "SILENT_DEVICE_S", 0.5)
    FakeInputStream.mute = True
    t0 = time.monotonic()
    with pytest.raises(HmmrecError, match=r"input device 4 \('default'\) delivered no audio"):
        with live.MicrophoneSource() as mic:
            list(mic)
    assert time.monotonic() - t0 < 5
    assert FakeInputStream.instances[-1].closed


def test_microphone_source_must_be_started():
    with pytest.raises(HmmrecError, match="not started"):
        live.MicrophoneSource().read()


# -- listen ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", [None, "ALC3246"], ids=["16k", "44k-resampled"])
def test_listen_finds_the_keywords_of_a_stream(fake_sd, all_fruit_model, device):
    FakeInputStream.signal_at = wav_at(STREAM_WAV)
    FakeInputStream.overflow_blocks = frozenset({5, 6})
    events = []
    summary = live.listen(all_fruit_model, device=device, on_event=events.append)
    truth = read_truth()
    got = [e.to_dict() for e in events]
    result = score_events(got, truth, offset=0.0)
    assert result["hits"] >= MIN_HITS, f"{result}\n{describe(got, truth)}"
    assert result["false_alarms"] <= len(truth), f"{result}\n{describe(got, truth)}"
    assert summary["events"] == len(events)
    assert summary["overflows"] == 2
    assert abs(summary["seconds"] - 25.0) < 0.1
    assert summary["ended"] == "device"  # the fake stream ran out of audio
    assert all(e.time >= e.end - 1e-6 for e in events)
    assert FakeInputStream.instances[-1].closed


def test_listen_stops_after_duration(fake_sd, fruit_model):
    FakeInputStream.signal_at = None  # endless silence
    summary = live.listen(fruit_model, duration_s=1.25)
    assert summary["seconds"] == 1.25 and summary["events"] == 0 and not summary["interrupted"]
    assert summary["ended"] == "duration"
    assert FakeInputStream.instances[-1].closed


def test_listen_stops_on_stop_event(fake_sd, fruit_model):
    FakeInputStream.signal_at = None
    FakeInputStream.pace_s = 0.01
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    t0 = time.monotonic()
    summary = live.listen(fruit_model, stop_event=stop)
    assert time.monotonic() - t0 < 10
    assert summary["seconds"] > 0 and not summary["interrupted"] and summary["ended"] == "stopped"
    assert FakeInputStream.instances[-1].closed


def test_ctrl_c_ends_listen_cleanly(fake_sd, all_fruit_model):
    FakeInputStream.signal_at = wav_at(STREAM_WAV)
    seen = []

    def on_event(ev):
        seen.append(ev)
        raise KeyboardInterrupt

    summary = live.listen(all_fruit_model, on_event=on_event)
    assert summary["interrupted"] and summary["ended"] == "interrupted"
    assert summary["events"] >= 1 and summary["seconds"] < 25
    assert FakeInputStream.instances[-1].closed


@pytest.fixture
def terminal_sigint():
    """SIGINT as in a program started from a terminal (Python's KeyboardInterrupt
    handler), whatever this test process inherited: a test runner started in the
    background of a non-interactive shell inherits SIGINT ignored, and a program rightly
    leaves an ignored SIGINT ignored (see ``test_ctrl_c_ignored_by_the_parent_stays_ignored``)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_ignored_by_the_parent_stays_ignored():
    """Started with SIGINT ignored (nohup, '&' in a script), listen does not take it over."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with live._CtrlC() as ctrl_c:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            assert not ctrl_c.pressed
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_is_a_flag_read_between_chunks_and_a_second_one_raises(terminal_sigint):
    import signal

    before = signal.getsignal(signal.SIGINT)
    with live._CtrlC() as ctrl_c:
        assert not ctrl_c.pressed
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs in this thread at the next bytecode
        assert ctrl_c.pressed  # and nothing was raised
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before
    with live._CtrlC() as ctrl_c:  # left untouched when not pressed
        pass
    assert signal.getsignal(signal.SIGINT) is before and not ctrl_c.pressed


def test_ctrl_c_stops_listen_even_where_keyboardinterrupt_would_be_swallowed(fake_sd, fruit_model, terminal_sigint):
    """SIGINT landing in code that catches every exception still ends listening.

    A KeyboardInterrupt raised there would be lost and listening would go on until the
    fake device runs out (25 s of audio); the flag cannot be lost.
    """
    import signal

    FakeInputStream.signal_at = wav_at(STREAM_WAV)
    FakeInputStream.pace_s = 0.002

    def on_start(mic):
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            time.sleep(0.5)  # Ctrl-C arrives in here
        except BaseException:  # a careless library
            pass

    before = signal.getsignal(signal.SIGINT)
    summary = live.listen(fruit_model, on_start=on_start)
    assert summary["interrupted"] and summary["ended"] == "interrupted", summary
    assert summary["seconds"] < 5
    assert signal.getsignal(signal.SIGINT) is before
    assert FakeInputStream.instances[-1].closed and FakeInputStream.instances[-1].aborted


def test_ctrl_c_outside_the_main_thread_is_left_to_the_caller(fake_sd, fruit_model):
    import signal

    before = signal.getsignal(signal.SIGINT)
    seen = {}

    def run():
        seen["summary"] = live.listen(fruit_model, duration_s=0.5,
                                      on_start=lambda mic: seen.setdefault("handler", signal.getsignal(signal.SIGINT)))

    FakeInputStream.signal_at = None
    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert seen["summary"]["ended"] == "duration"
    assert seen["handler"] is before  # signal handlers can only be set from the main thread


def test_listen_command_prints_events_and_a_summary(fake_sd, all_fruit_model_path, capsys):
    FakeInputStream.signal_at = lambda sr: audio.load(STREAM_WAV, sr)[0][: 11 * sr]
    rc = main(["listen", str(all_fruit_model_path), "--jsonl", "--device", "default", "--duration", "30"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    events = [json.loads(ln) for ln in out.splitlines()]
    assert events and all(set(e) == {"label", "start", "end", "score", "time", "margin"} for e in events)
    assert "listening on device 4 (default) at 16000 Hz" in err
    assert "listened 11.0 s:" in err and "0 overflows" in err
    assert "stopped delivering audio" in err  # the fake device ran out before --duration
    assert main(["listen", str(all_fruit_model_path), "--device", "nope"]) == 1
    assert capsys.readouterr().err.startswith("hmmrec: error: no input device matches 'nope'")


def test_listen_adapts_to_the_voice_unless_told_not_to_and_stream_only_when_told():
    from hmmrec.cli import build_parser
    from hmmrec.cli.live import _stream_kwargs

    parser = build_parser()
    assert _stream_kwargs(parser.parse_args(["listen"]))["adapt"] is True
    assert _stream_kwargs(parser.parse_args(["listen", "--no-adapt"]))["adapt"] is False
    assert _stream_kwargs(parser.parse_args(["stream", "m", "f.wav"]))["adapt"] is False
    assert _stream_kwargs(parser.parse_args(["stream", "m", "f.wav", "--adapt"]))["adapt"] is True


# -- the stream command (files) --------------------------------------------------------------------
def test_stream_command_jsonl_and_text(all_fruit_model_path, capsys):
    rc = main(["stream", str(all_fruit_model_path), str(STREAM_WAV), "--jsonl"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    events = [json.loads(ln) for ln in out.splitlines()]
    assert all(list(e) == ["label", "start", "end", "score", "time", "margin"] for e in events)
    assert all(e["score"] >= sensitivity_to_min_score(0.5) and e["margin"] > sensitivity_to_threshold(0.5)
               for e in events)  # (the two levels of the default sensitivity)
    truth = read_truth()
    result = score_events(events, truth, offset=0.0)
    assert result["hits"] >= MIN_HITS, f"{result}\n{describe(events, truth)}"
    assert all(e["start"] < e["end"] <= e["time"] + 1e-6 for e in events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)

    rc = main(["stream", str(all_fruit_model_path), str(STREAM_WAV), "--sensitivity", "0.5", "--hop", str(DEFAULT_HOP_S)])
    out, err = capsys.readouterr()
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == len(events)
    first = events[0]
    assert lines[0].split()[:2] == [f"{first['start']:.2f}-{first['end']:.2f}", first["label"]]
    assert f"(decided at {first['time']:.2f} s)" in lines[0]
    assert err.strip() == f"{len(events)} event{'s' if len(events) != 1 else ''} in 25.0 s of audio"


@pytest.mark.parametrize("args, code, words", [
    (["--sensitivity", "1.5"], 2, "between 0 and 1"),
    (["--window", "-1"], 2, "positive number"),
    (["--hop", "x"], 2, "positive number"),
])
def test_stream_command_usage_errors(fruit_model_path, capsys, args, code, words):
    assert main(["stream", str(fruit_model_path), str(STREAM_WAV), *args]) == code
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("hmmrec: error: ") and words in err


def test_stream_command_bad_files(fruit_model_path, tmp_path, capsys):
    assert main(["stream", str(fruit_model_path), str(tmp_path / "missing.wav")]) == 1
    assert capsys.readouterr().err.strip() == f"hmmrec: error: {tmp_path / 'missing.wav'}: no such file"
    notmodel = tmp_path / "x.model"
    notmodel.write_text("hello")
    assert main(["stream", str(notmodel), str(STREAM_WAV)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hmmrec: error: ") and len(err.strip().splitlines()) == 1


# -- the real thing: PortAudio -> ALSA pulse plugin -> PulseAudio virtual microphone -------------------
def _need_audio(reason: str):
    if os.environ.get("HMMREC_REQUIRE_AUDIO") == "1":
        pytest.fail(f"{reason} (HMMREC_REQUIRE_AUDIO=1)")
    pytest.skip(f"{reason}; set HMMREC_REQUIRE_AUDIO=1 to make this a failure")


@pytest.fixture(scope="module")
def virtual_mic():
    """Start scripts/virtual_mic.sh; undo it afterwards if this fixture was the one that started it."""
    for tool, pkg in (("pulseaudio", "pulseaudio"), ("pactl", "pulseaudio-utils"), ("paplay", "pulseaudio-utils")):
        if shutil.which(tool) is None:
            _need_audio(f"'{tool}' not found (apt-get install {pkg} libasound2-plugins libportaudio2)")
    state = Path(os.environ.get("TMPDIR", "/tmp")) / f"hmmrec-virtual-mic-{os.getuid()}.state"
    owned_before = state.exists()
    script = REPO / "scripts" / "virtual_mic.sh"
    r = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        _need_audio(f"scripts/virtual_mic.sh start failed: {r.stderr.strip() or r.stdout.strip()}")
    yield "vsink"
    if not owned_before:
        subprocess.run(["bash", str(script), "stop"], capture_output=True, text=True, timeout=60)


class _LineReader(threading.Thread):
    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.lines, self.new_line = pipe, [], threading.Condition()

    def run(self):
        for line in self.pipe:
            with self.new_line:
                self.lines.append(line.rstrip("\n"))
                self.new_line.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self.new_line:
            return self.new_line.wait_for(lambda: any(text in ln for ln in self.lines) or not self.is_alive(),
                                          timeout) and any(text in ln for ln in self.lines)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_listen_hears_a_wav_played_into_the_virtual_microphone(virtual_mic, all_fruit_model_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "hmmrec.cli", "listen", str(all_fruit_model_path),
                             "--duration", "30", "--jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env=env)
    out, err = _LineReader(proc.stdout), _LineReader(proc.stderr)
    out.start()
    err.start()
    try:
        if not err.wait_for("listening on", timeout=120):
            proc.kill()
            proc.wait(10)
            pytest.fail("hmmrec listen did not start:\n" + "\n".join(err.lines))
        play = subprocess.run(["paplay", f"--device={virtual_mic}", str(STREAM_WAV)], capture_output=True,
                              text=True, timeout=120)
        assert play.returncode == 0, play.stderr
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out.join(10)
    err.join(10)
    assert rc == 0, "\n".join(err.lines)
    assert not any("Traceback" in ln for ln in err.lines)
    events = [json.loads(ln) for ln in out.lines if ln.strip()]
    truth = read_truth()
    result = score_events(events, truth, offset=None)
    report = f"{result}\n{describe(events, truth)}\nstderr: {err.lines}"
    print(report)  # shown with pytest -rP: what the recognizer heard through the real audio path
    assert result["hits"] >= MIN_HITS, report
    assert result["false_alarms"] <= len(truth), report
    assert any(ln.startswith("listened 30.0 s:") for ln in err.lines), report


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_listen_ctrl_c_or_sigterm_exits_cleanly_with_a_summary(virtual_mic, fruit_model_path, sig):
    import signal

    # hmmrec's own entry point, with faulthandler set to print every thread's stack on SIGUSR1:
    # if the process ever fails to exit, the failure shows where it hangs. SIGINT as from a
    # terminal, even when this test runs with it ignored (see terminal_sigint)
    entry = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
             "signal.signal(signal.SIGINT, signal.default_int_handler); "
             "from hmmrec.cli import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", entry, "listen", str(fruit_model_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    err = _LineReader(proc.stderr)
    err.start()
    try:
        assert err.wait_for("listening on", timeout=90), "\n".join(err.lines)
        time.sleep(1.0)
        proc.send_signal(getattr(signal, sig))
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2.0)
            pytest.fail(f"no exit 30 s after {sig}; stacks:\n" + "\n".join(err.lines))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    err.join(10)
    proc.stdout.close()
    assert rc == 0, "\n".join(err.lines)
    summary = [ln for ln in err.lines if ln.startswith("listened ")]
    assert len(summary) == 1, err.lines
    assert not any("Traceback" in ln or "hmmrec: error" in ln or "interrupted" in ln for ln in err.lines), err.lines


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_record_command_through_the_virtual_microphone(virtual_mic, tmp_path):
    """hmmrec record, with espeak words played into the virtual microphone after each prompt.

    Each file must hold the word that was played (waveform correlation), trimmed.
    """
    from scipy.signal import correlate

    words = sound_files("test", "apple", 2)
    proc = subprocess.Popen([sys.executable, "-m", "hmmrec.cli", "record", "apple", "--count", "2", "--out",
                             str(tmp_path), "--no-wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    out, err = _LineReader(proc.stdout), _LineReader(proc.stderr)
    out.start()
    err.start()
    try:
        for i, word in enumerate(words, 1):
            assert out.wait_for(f"say 'apple' ({i}/2)", timeout=90), out.lines + err.lines
            time.sleep(0.3)
            subprocess.run(["paplay", f"--device={virtual_mic}", str(word)], check=True, timeout=30)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out.join(10)
    err.join(10)
    assert rc == 0, out.lines + err.lines
    files = sorted((tmp_path / "apple").glob("*.wav"))
    assert [f.name for f in files] == ["apple_001.wav", "apple_002.wav"]
    for f, word in zip(files, words):
        y, x = audio.load(f, 16000)[0], audio.load(word, 16000)[0]
        assert 0.2 < len(y) / 16000 < len(x) / 16000 + 2 * record.PAD_S + 0.3, (f, len(y) / 16000)
        similarity = np.abs(correlate(y, x)).max() / (np.linalg.norm(y) * np.linalg.norm(x))
        assert similarity > 0.9, (f, word, similarity)  # another word scores < 0.4

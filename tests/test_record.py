"""Guided recording: silence trimming, speech checks, numbering that never overwrites, ``hmmrec record``."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest

from hmmrec import audio, record
from hmmrec.cli import main
from hmmrec.errors import HmmrecError, ParameterError

SR = 16000
FRAME_TOL_S = 0.03  # one 25 ms frame, give or take


def tone(seconds, sr=SR, freq=440.0, amp=0.3):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds, sr=SR, noise=0.0, seed=0):
    n = int(round(seconds * sr))
    return (noise * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def take(before=0.8, word=0.5, after=1.7, sr=SR, noise=1e-4, amp=0.3):
    """A 3 s take: quiet, a 'word' (a tone), quiet."""
    y = np.concatenate([silence(before, sr), tone(word, sr, amp=amp), silence(after, sr)])
    return y + silence(len(y) / sr, sr, noise, seed=1)


# -- trim_silence ----------------------------------------------------------------------------------
def test_trim_keeps_the_loud_part_plus_padding():
    y = np.concatenate([silence(0.5), tone(0.4), silence(0.6)])
    trimmed, start, end = record.trim_silence(y, SR)
    assert start == pytest.approx(0.5 - record.PAD_S, abs=FRAME_TOL_S)
    assert end == pytest.approx(0.9 + record.PAD_S, abs=FRAME_TOL_S)
    assert len(trimmed) == int(round(end * SR)) - int(round(start * SR))
    np.testing.assert_array_equal(trimmed, y[int(round(start * SR)):int(round(end * SR))])


def test_trim_with_background_noise_and_no_padding():
    y = take(before=1.0, word=0.3, after=1.0, noise=3e-4)  # noise ~ -60 dB below the tone
    trimmed, start, end = record.trim_silence(y, SR, pad_s=0.0)
    assert start == pytest.approx(1.0, abs=FRAME_TOL_S)
    assert end == pytest.approx(1.3, abs=FRAME_TOL_S)
    assert np.abs(trimmed).max() == pytest.approx(np.abs(y).max())


def test_threshold_decides_what_counts_as_silence():
    quiet = tone(0.3, amp=0.3 * 10 ** (-45 / 20))  # 45 dB below the word
    y = np.concatenate([silence(0.5), quiet, silence(0.2), tone(0.3), silence(0.5)])
    _, start, _ = record.trim_silence(y, SR, threshold_db=-35, pad_s=0.0)
    assert start == pytest.approx(1.0, abs=FRAME_TOL_S)  # the quiet tone is cut away
    _, start, _ = record.trim_silence(y, SR, threshold_db=-50, pad_s=0.0)
    assert start == pytest.approx(0.5, abs=FRAME_TOL_S)  # ... or kept


def test_padding_stops_at_the_edges():
    y = np.concatenate([tone(0.3), silence(0.05)])
    trimmed, start, end = record.trim_silence(y, SR, pad_s=0.2)
    assert start == 0.0 and end == pytest.approx(len(y) / SR)
    assert len(trimmed) == len(y)


def test_digital_silence_and_empty_signals_trim_to_nothing():
    for y in (np.zeros(SR, np.float32), np.zeros(0, np.float32)):
        trimmed, start, end = record.trim_silence(y, SR)
        assert len(trimmed) == 0 and (start, end) == (0.0, 0.0)


def test_trim_works_at_other_rates():
    sr = 8000
    y = np.concatenate([silence(0.7, sr), tone(0.5, sr), silence(0.3, sr)])
    _, start, end = record.trim_silence(y, sr, pad_s=0.1)
    assert start == pytest.approx(0.6, abs=FRAME_TOL_S) and end == pytest.approx(1.3, abs=FRAME_TOL_S)


@pytest.mark.parametrize("kwargs", [{"threshold_db": 0}, {"threshold_db": 10}, {"pad_s": -0.1}])
def test_trim_rejects_bad_parameters(kwargs):
    with pytest.raises(ParameterError):
        record.trim_silence(tone(0.2), SR, **kwargs)


# -- speech_problem ----------------------------------------------------------------------------------
@pytest.mark.parametrize("y, words", [
    (silence(3, noise=1e-4), "too quiet"),
    (silence(3, noise=0.05), "steady"),  # loud but steady noise is not a word
    (np.concatenate([silence(1.0, noise=1e-4), tone(0.02), silence(2.0, noise=1e-4)]), "click"),
    (np.concatenate([silence(2.5, noise=1e-4), tone(0.5)]), "end of the take"),
])
def test_takes_without_a_usable_word_are_rejected(y, words):
    assert words in record.speech_problem(y, SR)


def test_a_word_in_the_middle_is_accepted():
    assert record.speech_problem(take(), SR) is None


# -- record_examples with a fake microphone -----------------------------------------------------------
class FakeMic:
    """Stands in for MicrophoneSource: each use plays the next take of ``takes`` in 0.1 s chunks."""

    takes: list = []
    opened: list = []
    log: list = []

    def __init__(self, device=None, sr=SR, block_s=0.1):
        self.device, self._sr = device, sr

    def check(self):
        return 0

    @property
    def sr(self):
        return self._sr

    def __enter__(self):
        FakeMic.opened.append((self.device, self._sr))
        FakeMic.log.append("open")
        y = FakeMic.takes.pop(0)
        step = int(0.1 * self._sr)
        self._chunks = iter([y[i:i + step] for i in range(0, len(y), step)])
        return self

    def __exit__(self, *exc):
        pass

    def __iter__(self):
        return self._chunks


@pytest.fixture
def fake_mic(monkeypatch):
    FakeMic.takes, FakeMic.opened, FakeMic.log = [], [], []
    monkeypatch.setattr(record, "MicrophoneSource", FakeMic)
    return FakeMic


def test_record_writes_trimmed_files_at_the_next_free_numbers(fake_mic, tmp_path):
    folder = tmp_path / "apple"
    folder.mkdir()
    keep = {"apple_001.wav": b"first", "apple_007.wav": b"seventh", "apple_notes.wav": b"other"}
    for name, data in keep.items():
        (folder / name).write_bytes(data)
    fake_mic.takes = [take(), take(before=0.3, word=0.6)]
    prompts, waits = [], []
    paths = record.record_examples("apple", 2, tmp_path, device="usb", prompt=prompts.append, wait=waits.append)
    assert [p.name for p in paths] == ["apple_008.wav", "apple_009.wav"]
    for name, data in keep.items():
        assert (folder / name).read_bytes() == data  # nothing overwritten
    assert prompts[0] == "say 'apple' (1/2)" and "say 'apple' (2/2)" in prompts
    assert len(waits) == 2 and "1/2" in waits[0]
    assert fake_mic.opened == [("usb", SR), ("usb", SR)]
    y, sr = audio.load(paths[0])
    wi = audio.info(paths[0])
    assert (sr, wi.sample_width, wi.n_channels) == (SR, 2, 1)
    assert len(y) / SR == pytest.approx(0.5 + 2 * record.PAD_S, abs=2 * FRAME_TOL_S)
    assert len(audio.load(paths[1])[0]) / SR == pytest.approx(0.6 + 2 * record.PAD_S, abs=2 * FRAME_TOL_S)

    # a second session continues the numbering
    fake_mic.takes = [take()]
    again = record.record_examples("apple", 1, tmp_path, prompt=prompts.append, wait=waits.append)
    assert [p.name for p in again] == ["apple_010.wav"]
    assert sorted(p.name for p in folder.iterdir()) == ["apple_001.wav", "apple_007.wav", "apple_008.wav",
                                                        "apple_009.wav", "apple_010.wav", "apple_notes.wav"]


def test_the_prompt_comes_once_the_microphone_records(fake_mic, tmp_path):
    fake_mic.takes = [take(), take()]
    record.record_examples("kiwi", 2, tmp_path, prompt=fake_mic.log.append,
                           wait=lambda m: fake_mic.log.append("wait"))
    assert fake_mic.log[:3] == ["wait", "open", "say 'kiwi' (1/2)"]
    assert fake_mic.log[4:7] == ["wait", "open", "say 'kiwi' (2/2)"]


def test_record_never_overwrites_even_if_a_file_appears_meanwhile(fake_mic, tmp_path, monkeypatch):
    fake_mic.takes = [take()]
    real_next = record.next_free_path
    calls = []

    def racing_next_free_path(folder, label):
        path = real_next(folder, label)
        if not calls:  # someone else writes this very name first
            path.write_bytes(b"theirs")
        calls.append(path.name)
        return path

    monkeypatch.setattr(record, "next_free_path", racing_next_free_path)
    paths = record.record_examples("kiwi", 1, tmp_path, prompt=lambda m: None, wait=lambda m: None)
    assert calls == ["kiwi_001.wav", "kiwi_002.wav"]
    assert (tmp_path / "kiwi" / "kiwi_001.wav").read_bytes() == b"theirs"
    assert paths == [tmp_path / "kiwi" / "kiwi_002.wav"]


def test_takes_without_speech_are_retried(fake_mic, tmp_path):
    fake_mic.takes = [silence(3, noise=1e-4), np.concatenate([silence(2.5, noise=1e-4), tone(0.5)]), take()]
    prompts = []
    paths = record.record_examples("lime", 1, tmp_path, prompt=prompts.append, wait=lambda m: None)
    assert [p.name for p in paths] == ["lime_001.wav"]
    retries = [p for p in prompts if "try again" in p]
    assert len(retries) == 2 and "too quiet" in retries[0] and "end of the take" in retries[1]
    assert prompts.count("say 'lime' (1/1)") == 3


def test_giving_up_after_max_attempts(fake_mic, tmp_path):
    fake_mic.takes = [silence(3, noise=1e-4)] * 3
    with pytest.raises(HmmrecError, match="3 attempts without a usable recording"):
        record.record_examples("lime", 1, tmp_path, prompt=lambda m: None, wait=lambda m: None, max_attempts=3)
    assert list((tmp_path / "lime").iterdir()) == []


def test_non_keyword_labels_keep_the_whole_take(fake_mic, tmp_path):
    fake_mic.takes = [silence(3, noise=1e-3)]
    prompts = []
    (path,) = record.record_examples("_silence_", 1, tmp_path, sr=SR, prompt=prompts.append, wait=lambda m: None)
    assert path.name == "_silence__001.wav"
    assert len(audio.load(path)[0]) == 3 * SR
    assert "stay quiet" in prompts[0]


def test_files_are_written_at_the_requested_rate(fake_mic, tmp_path):
    fake_mic.takes = [take(sr=8000)]
    (path,) = record.record_examples("peach", 1, tmp_path, sr=8000, max_s=3.0, prompt=lambda m: None,
                                     wait=lambda m: None)
    assert audio.info(path).sr == 8000
    assert fake_mic.opened == [(None, 8000)]


def test_capture_stops_at_max_s(fake_mic, tmp_path):
    fake_mic.takes = [np.concatenate([take(), silence(5, noise=1e-4)])]  # the 'device' goes on and on
    (path,) = record.record_examples("_background_", 1, tmp_path, max_s=1.5, prompt=lambda m: None,
                                     wait=lambda m: None)
    assert len(audio.load(path)[0]) == int(1.5 * SR)


@pytest.mark.parametrize("label, count, max_s", [("", 1, 3.0), ("a/b", 1, 3.0), (".hidden", 1, 3.0),
                                                 ("apple", 0, 3.0), ("apple", 1, 0.0)])
def test_bad_arguments(tmp_path, label, count, max_s):
    with pytest.raises(ParameterError):
        record.record_examples(label, count, tmp_path, max_s=max_s, prompt=lambda m: None, wait=lambda m: None)


# -- hmmrec record ------------------------------------------------------------------------------------
@pytest.fixture
def no_sleep(monkeypatch):
    from hmmrec.cli import live as cli_live

    slept = []
    monkeypatch.setattr(cli_live.time, "sleep", slept.append)
    return slept


def test_record_command_no_wait(fake_mic, no_sleep, tmp_path, capsys):
    fake_mic.takes = [take(), silence(3, noise=1e-4), take()]
    (tmp_path / "banana").mkdir()
    (tmp_path / "banana" / "banana_002.wav").write_bytes(b"old")
    rc = main(["record", "banana", "--count", "2", "--out", str(tmp_path), "--no-wait", "--device", "3"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "banana").iterdir()) == ["banana_002.wav", "banana_003.wav",
                                                                       "banana_004.wav"]
    assert (tmp_path / "banana" / "banana_002.wav").read_bytes() == b"old"
    assert no_sleep == [1.0, 1.0, 1.0]  # a 1 s countdown before each take, the retry included
    assert "say 'banana' (1/2)" in out and "say 'banana' (2/2)" in out and "try again" in out
    assert f"saved {tmp_path / 'banana' / 'banana_003.wav'}" in out
    assert fake_mic.opened[0] == (3, 16000)
    assert "recorded 2 files" in err
    assert f"hmmrec train CORPUS --own {tmp_path} -o MODEL" in err  # the next step


def test_record_command_waits_for_enter_on_a_terminal(fake_mic, no_sleep, tmp_path, capsys, monkeypatch):
    fake_mic.takes = [take(), take()]
    asked = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(builtins, "input", lambda msg="": asked.append(msg) or "")
    rc = main(["record", "orange", "--count", "2", "--out", str(tmp_path), "--sr", "8000"])
    assert rc == 0, capsys.readouterr().err
    assert len(asked) == 2 and "Enter" in asked[0] and no_sleep == []
    assert all(audio.info(p).sr == 8000 for p in (tmp_path / "orange").iterdir())


def test_record_command_end_of_input_is_one_error_line(fake_mic, no_sleep, tmp_path, capsys, monkeypatch):
    fake_mic.takes = [take()]
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)

    def eof(msg=""):
        raise EOFError

    monkeypatch.setattr(builtins, "input", eof)
    assert main(["record", "orange", "--count", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hmmrec: error: input closed") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["kiwi", "--out", "x"], ["kiwi", "--count", "0", "--out", "x"],
                                  ["kiwi", "--count", "2"], ["kiwi", "--count", "2", "--out", "x", "--sr", "-1"]])
def test_record_command_usage_errors(args, capsys):
    assert main(["record", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hmmrec: error: ") and len(err.strip().splitlines()) == 1

"""Progress of long commands: bars on a terminal (a pseudo-terminal here), nothing but the
results when stderr is not a terminal, nothing with --quiet; and the progress callbacks the
bars are drawn from."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import struct
import sys
import termios
import threading
import time

import numpy as np
import pytest

from hmmrec import evaluate, progress
from hmmrec.cli import main
from hmmrec.corpus import load_corpus
from hmmrec.evaluate import evaluate_files, file_features
from hmmrec.progress import Background, Stopped
from hmmrec.stream import stream_file

from helpers import SMALL_LABELS, SOUNDS, sound_files

FAST = ["--mix", "1", "--speeds", "none", "--warps", "none", "--noise", "none", "--jobs", "1"]
STREAM_WAV = SOUNDS / "streams" / "stream1.wav"
BAR = "%|"  # what every tqdm bar draws between its percentage and the bar itself


class Terminal:
    """A pseudo-terminal of 100 columns whose output is collected as it is written."""

    def __init__(self):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        self.stream = open(slave, "w", encoding="utf-8", buffering=1)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            try:
                block = os.read(self.master, 65536)
            except OSError:  # the other side closed
                return
            if not block:
                return
            self._chunks.append(block)

    def output(self) -> str:
        """Everything written so far (the terminal is closed: call it once, at the end)."""
        self.stream.close()
        self._reader.join(timeout=10)
        os.close(self.master)
        return b"".join(self._chunks).decode("utf-8", errors="replace")


@contextlib.contextmanager
def terminal():
    """stderr on a pseudo-terminal inside the block (stdout still captured by capsys). Set in
    the test itself: pytest sets its own sys.stderr again when the test starts."""
    term = Terminal()
    saved, sys.stderr = sys.stderr, term.stream
    try:
        yield term
    finally:
        sys.stderr = saved


def on_terminal(argv) -> tuple[int, str]:
    """``hmmrec ARGV`` with stderr on a terminal: exit status and what the terminal showed
    (every update of a bar drawn, so that what it shows does not depend on timing)."""
    with terminal() as term, pytest.MonkeyPatch.context() as mp:
        mp.setattr(progress, "BAR_INTERVAL_S", 0.0)
        rc = main([str(a) for a in argv])
    return rc, term.output()


def manifest(tmp_path, split: str, labels, n: int | None) -> str:
    rows = ["path,label"] + [f"{f},{lab}" for lab in labels for f in sound_files(split, lab, n)]
    path = tmp_path / f"{split}.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


# -- train -------------------------------------------------------------------------------------------------
def test_train_draws_its_bars_on_a_terminal(tmp_path, capsys):
    data = manifest(tmp_path, "train", ["kiwi", "lime", "_silence_"], 3)
    rc, seen = on_terminal(["train", data, "-o", tmp_path / "m.model", *FAST])
    assert rc == 0, seen
    assert "training on 9 files, 3 labels" in seen  # what the bars are about
    for bar in ("training:", "features:", "models:", "discriminative:"):  # overall, then one per stage
        assert bar in seen, seen
    assert BAR in seen and "0/9 [" in seen and "0/5 [" in seen  # 9 files; 3 word models + background + filler
    assert "lime]" in seen  # the stage bar names the last model trained
    out = capsys.readouterr().out
    assert out.splitlines() == [out.strip()] and out.startswith(f"saved {tmp_path / 'm.model'}: 3 labels")


def test_train_quiet_draws_nothing_even_on_a_terminal(tmp_path, capsys):
    data = manifest(tmp_path, "train", ["kiwi", "_silence_"], 3)
    assert on_terminal(["train", data, "-o", tmp_path / "m.model", "-q", *FAST]) == (0, "")
    assert capsys.readouterr().out.startswith("saved ")


# -- eval --------------------------------------------------------------------------------------------------
def test_eval_draws_a_bar_over_files_on_a_terminal(fruit_model_path, tmp_path, capsys):
    data = manifest(tmp_path, "test", SMALL_LABELS, None)
    rc, seen = on_terminal(["eval", fruit_model_path, data, "--jobs", "1"])
    assert rc == 0 and "recognising:" in seen and BAR in seen and "0/32 [" in seen
    assert "accuracy" in capsys.readouterr().out
    assert on_terminal(["eval", fruit_model_path, data, "--jobs", "1", "--quiet"]) == (0, "")


def test_eval_prints_only_its_results_off_a_terminal(fruit_model_path, tmp_path, capsys):
    data = manifest(tmp_path, "test", SMALL_LABELS, 2)
    assert main(["eval", str(fruit_model_path), data, "--adapt", "--jobs", "1"]) == 0
    out, err = capsys.readouterr()
    # stderr is not a terminal here: the adaptation's result, and no progress
    assert err.startswith("adapted to ") and len(err.splitlines()) == 1 and BAR not in err and "\r" not in err
    assert "accuracy" in out and BAR not in out


def test_eval_adapt_has_a_bar_per_step_on_a_terminal(fruit_model_path, tmp_path, capsys):
    data = manifest(tmp_path, "test", SMALL_LABELS, 2)
    rc, seen = on_terminal(["eval", fruit_model_path, data, "--adapt", "--jobs", "1"])
    assert rc == 0 and "features:" in seen and "recognising:" in seen and "adapted to " in seen
    assert "accuracy" in capsys.readouterr().out


# -- crossval ----------------------------------------------------------------------------------------------
def test_crossval_says_fold_k_of_n_on_a_terminal_and_keeps_results_on_stdout(tmp_path, capsys):
    data = manifest(tmp_path, "train", ["kiwi", "lime", "_silence_"], 4)
    rc, seen = on_terminal(["crossval", data, "--by", "kfold", "--k", "2", *FAST])
    assert rc == 0 and "fold 1 of 2" in seen and "fold 2 of 2" in seen
    assert "training: models" in seen and "testing: " in seen
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines[:2]] == ["fold0", "fold1"] and lines[2].startswith("mean accuracy")
    assert len(lines) == 3 and not any(BAR in ln for ln in lines)


def test_crossval_off_a_terminal_prints_results_only(tmp_path, capsys):
    data = manifest(tmp_path, "train", ["kiwi", "_silence_"], 4)
    assert main(["crossval", data, "--by", "kfold", "--k", "2", *FAST]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 3


# -- stream ------------------------------------------------------------------------------------------------
def test_stream_shows_audio_done_and_real_time_factor_on_a_terminal(fruit_model_path, capsys):
    rc, seen = on_terminal(["stream", fruit_model_path, STREAM_WAV, "--jsonl"])
    assert rc == 0 and "streaming:" in seen and "/25.0 s of audio" in seen and "RTF 0." in seen
    with_bar = capsys.readouterr().out
    assert with_bar and BAR not in with_bar and "\r" not in with_bar  # the events on stdout, untouched
    # the same events with --quiet, which draws nothing
    assert on_terminal(["stream", fruit_model_path, STREAM_WAV, "--jsonl", "--quiet"]) == (0, "")
    assert capsys.readouterr().out == with_bar


# -- the callbacks the bars are drawn from ------------------------------------------------------------------
def test_stream_file_reports_the_audio_consumed(fruit_model):
    seen = []
    events = list(stream_file(fruit_model, STREAM_WAV, progress=seen.append))
    assert events and seen == sorted(seen) and seen[0] > 0
    assert seen[-1] == pytest.approx(25.0, abs=0.1)
    assert [e.label for e in events] == [e.label for e in stream_file(fruit_model, STREAM_WAV)]


def test_evaluation_reports_files_done_and_is_the_same_on_worker_processes(fruit_model, tmp_path, monkeypatch):
    corpus = load_corpus(manifest(tmp_path, "test", SMALL_LABELS, None))
    calls = []
    one = evaluate_files(fruit_model, corpus, n_jobs=1, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 32) for i in range(1, 33)]  # one file at a time in this process
    monkeypatch.setattr(evaluate, "_MIN_INPUTS_PER_JOB", 4)  # so that 32 files make several jobs
    calls.clear()
    two = evaluate_files(fruit_model, corpus, n_jobs=2, progress=lambda d, t: calls.append((d, t)))
    assert two == one
    assert calls == [(i, 32) for i in range(4, 33, 4)]  # a job of 4 files at a time, in order
    feats = file_features(fruit_model, corpus.paths, n_jobs=2)
    ref = fruit_model.features(corpus.paths)
    assert len(feats) == len(ref) and all(np.array_equal(a, b) for a, b in zip(feats, ref))


def test_background_work_hands_back_its_value_or_its_error_and_stops_when_asked():
    assert Background(lambda stop: 6 * 7).result() == 42
    with pytest.raises(ValueError, match="bad"):
        Background(lambda stop: (_ for _ in ()).throw(ValueError("bad"))).result()
    steps = []

    def work(stop):
        while True:  # (a step at a time, as a network's epochs)
            steps.append(1)
            if stop.is_set():
                raise Stopped
            time.sleep(0.01)

    job = Background(work)
    time.sleep(0.05)
    job.stop()
    with pytest.raises(Stopped):
        job.result()
    assert steps and job._thread.daemon  # (never holds up the interpreter's exit)

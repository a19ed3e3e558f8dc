"""Output a person reads: brief recognition lines, units, plural forms, no library warnings."""

from __future__ import annotations

import warnings

import numpy as np

from hmmrec import HMMRecognizer
from hmmrec.cli import main
from hmmrec.cli.live import format_event
from hmmrec.evaluate import classification_report
from hmmrec.stream import KeywordEvent

from helpers import sound_files


def test_recognize_brief_is_one_line_per_file(fruit_model_path, capsys):
    files = [str(f) for f in sound_files("test", "kiwi", 2)] + [str(sound_files("test", "orange", 1)[0])]
    assert main(["recognize", "--brief", str(fruit_model_path), *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[:2] for ln in lines] == [[files[0], "kiwi"], [files[1], "kiwi"], [files[2], "orange"]]
    assert all(0.0 <= float(ln.split("\t")[2]) <= 1.0 for ln in lines)
    assert main(["recognize", "--brief", "--json", str(fruit_model_path), files[0]]) == 2  # one form or the other


def test_events_say_their_unit():
    line = format_event(KeywordEvent("apple", 1.23, 1.8, 2.314, 2.1))
    assert "score 2.31 nats/frame" in line and "(decided at 2.10 s)" in line


def test_a_label_never_in_the_test_set_gives_no_warning_and_the_same_balanced_accuracy():
    y_true, y_pred = ["a", "a", "b", "b"], ["a", "c", "b", "b"]  # "c": recognised, not in the test set
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = classification_report(y_true, y_pred)
    assert rep["balanced_accuracy"] == np.mean([0.5, 1.0]) and rep["labels"] == ["a", "b", "c"]


def test_training_lines_use_plural_forms_right(capsys):
    X = [str(f) for lab in ("kiwi", "lime") for f in sound_files("train", lab, 2)]
    HMMRecognizer(n_states=3, n_mix=1, n_iter=1, warps=(), noise_snrs=(), n_jobs=1, verbose=1).fit(X, ["kiwi"] * 2 + ["lime"] * 2)
    err = capsys.readouterr().err
    assert "3 states x 1 Gaussian," in err and "1 EM iteration" in err and "1 states" not in err
    assert "discriminative iteration 1: " in err and "0 training examples" not in err

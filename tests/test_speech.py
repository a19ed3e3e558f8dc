"""hmmrec.speech: speech is never taken for silence because a voice is unlike the training voices."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import SOUNDS, shared_dataset
from hmmrec import HMMRecognizer, audio
from hmmrec.recognizer import Recognition
from hmmrec.speech import LOUD_DB, MARGIN_S, NO_SPEECH_SHARE, Speech, listen, longest_speech_s, ruled_out


def unheard(split: str) -> list:
    """sounds/'s noise clips in which the detector hears no speech even made loud (about half)."""
    return [f for f in sorted((SOUNDS / split / "_silence_").glob("*.wav")) if not listen(*audio.load(f)).heard]


def test_the_detector_finds_words_but_not_background_noise():
    words = sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))[:3]
    noise = sorted((SOUNDS / "test" / "_silence_").glob("*.wav"))
    for f in words:
        y, sr = audio.load(f)
        assert longest_speech_s(y, sr) >= 0.2, f
    for f in noise:
        y, sr = audio.load(f)
        assert longest_speech_s(y, sr) <= 0.1, f
    assert longest_speech_s(np.zeros(16000, np.float32), 16000) == 0.0


def test_rates_the_detector_lacks_are_resampled():
    y, sr = audio.load(sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))[0])
    at_22k = audio.resample(y, sr, 22050)
    assert longest_speech_s(at_22k, 22050) == pytest.approx(longest_speech_s(y, sr), abs=0.05)


def test_a_label_is_ruled_out_only_past_its_own_limit_and_margin():
    labels = np.array(["_silence_", "_noise_", "kiwi"])
    limits = {"_silence_": 0.1, "_noise_": 1.0}
    assert ruled_out(labels, limits, Speech(0.1 + MARGIN_S, True)) == frozenset()
    assert ruled_out(labels, limits, Speech(0.3, True)) == frozenset({0})
    assert ruled_out(labels, limits, Speech(2.0, True)) == frozenset({0, 1})
    assert ruled_out(labels, {}, Speech(5.0, True)) == frozenset()


def test_without_speech_only_words_nearly_always_spoken_in_training_are_ruled_out():
    labels = np.array(["_silence_", "kiwi", "apple", "pear"])
    shares = {"kiwi": 0.0, "apple": NO_SPEECH_SHARE, "pear": 0.2}  # pear: a fifth of its clips held no speech
    limits = {"_silence_": 0.0}
    assert ruled_out(labels, limits, Speech(0.0, False), shares) == frozenset({1, 2})
    assert ruled_out(labels, limits, Speech(0.0, True), shares) == frozenset()  # heard once made loud
    assert ruled_out(labels, limits, Speech(0.3, True), shares) == frozenset({0})
    assert ruled_out(labels, {}, Speech(0.0, False)) == frozenset()  # a model without shares: no word ruled out


def test_a_quiet_recording_is_heard_once_made_loud():
    """The detector's thresholds are absolute: a word 50 dB down is quiet, not silence."""
    y, sr = audio.load(sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))[0])
    loud = listen(y, sr)
    assert loud.heard and loud.longest_s >= 0.2
    quiet = listen(y * 10 ** (-50 / 20), sr)
    assert quiet.longest_s < MARGIN_S and quiet.heard  # not at its own level, but once made loud
    assert not listen(np.zeros(16000), 16000).heard
    noise = np.random.default_rng(0).normal(0, 10 ** (LOUD_DB / 20), 16000)  # steady, however loud
    assert not listen(noise, 16000).heard and not listen(noise * 1e-3, 16000).heard


def test_recognition_skips_ruled_out_labels_but_keeps_their_posterior():
    labels = np.array(["_silence_", "apple", "kiwi"])
    r = Recognition(labels, np.array([-10.0, -30.0, -20.0]), np.array([0.98, 0.005, 0.015]), 50, frozenset({0}))
    assert r.label == "kiwi" and r.confidence == pytest.approx(0.015)
    assert [x[0] for x in r.ranked()] == ["kiwi", "apple", "_silence_"]
    assert Recognition(labels, r.loglik, r.proba, 50).label == "_silence_"


def test_training_keeps_each_whole_labels_longest_speech(fruit_model, fruit_model_path):
    limits = fruit_model.speech_limits_
    assert set(limits) == {"_silence_"}
    assert 0.0 <= limits["_silence_"] <= 0.1
    assert HMMRecognizer.load(fruit_model_path).speech_limits_ == limits


def test_training_keeps_each_words_share_of_clips_without_speech(fruit_model, fruit_model_path):
    shares = fruit_model.no_speech_share_
    assert set(shares) == set(fruit_model.classes_) - {"_silence_"}
    assert all(v == 0.0 for v in shares.values())  # every synthetic take is spoken
    assert HMMRecognizer.load(fruit_model_path).no_speech_share_ == shares
    # a word trained partly on noise keeps that share, and is not ruled out for noise
    from helpers import small_train_set

    X, y = small_train_set()
    noise = unheard("train")[:2]
    X, y = X + [str(f) for f in noise], y + ["kiwi"] * 2
    rec = HMMRecognizer(n_mix=1, warps=(), speeds=(), noise_snrs=(), mmi_iter=0, n_iter=2, n_jobs=1).fit(X, y)
    n_kiwi = y.count("kiwi")
    assert rec.no_speech_share_["kiwi"] == pytest.approx(2 / n_kiwi, abs=1e-4)
    quiet = unheard("test")[0]
    out = {str(rec.classes_[k]) for k in rec.recognize(quiet).ruled_out}
    assert out == set(rec.classes_) - {"_silence_", "kiwi"}


@pytest.mark.shared
def test_real_voices_are_not_silence_for_a_model_of_synthetic_voices(fruit_model):
    """The brief's case: real people saying the fruit words, a model trained on sounds/
    (synthetic voices). Not one recording may come out as ``_silence_``, and where the
    models do not know the voice the confidence says so."""
    files = sorted(shared_dataset("fruit").glob("*/*.wav"))
    assert len(files) == 105
    results = [fruit_model.recognize(f) for f in files]
    assert [str(f) for f, r in zip(files, results) if r.label == "_silence_"] == []
    raw_best = [r.labels[int(np.argmax(r.loglik))] for r in results]
    vetoed = [r for r, b in zip(results, raw_best) if b == "_silence_"]
    assert vetoed, "the models alone take these voices for silence: the check is what changes it"
    assert max(r.confidence for r in vetoed) < 0.5
    assert list(fruit_model.predict(files[:5])) == [r.label for r in results[:5]]


@pytest.mark.shared
def test_the_shipped_models_silence_still_hears_its_noises():
    """Speech Commands' ``_silence_`` clips (running taps, a miaowing man...) stay silence:
    its limit comes from those very noises."""
    rec = HMMRecognizer.load("commands")
    assert rec.speech_limits_["_silence_"] >= 0.5
    files = sorted(shared_dataset("speech_commands/_silence_").glob("*.wav"))[:40]
    assert sum(rec.recognize(f).label == "_silence_" for f in files) >= 36


@pytest.mark.shared
@pytest.mark.parametrize("adapt", [False, True])
def test_eval_of_real_voices_with_and_without_adapting(fruit_model_path, tmp_path, adapt):
    """``hmmrec eval`` (and ``--adapt``, which extracts the features once for both steps)
    applies the same check."""
    import json

    from hmmrec.cli import main

    out = tmp_path / "report.json"
    argv = ["eval", str(fruit_model_path), str(shared_dataset("fruit")), "--json", str(out), "-q"]
    assert main(argv + (["--adapt"] if adapt else [])) == 0
    report = json.loads(out.read_text())
    silence = report["labels"].index("_silence_")
    assert report["n"] == 105 and sum(row[silence] for row in report["confusion"]) == 0


@pytest.mark.shared
def test_recognize_says_which_labels_the_speech_ruled_out(fruit_model_path, capsys):
    import json

    from hmmrec.cli import main

    real = sorted(shared_dataset("fruit").glob("kiwi/*.wav"))[0]
    quiet = unheard("test")[0]
    assert main(["recognize", str(fruit_model_path), str(real), str(quiet), "--json"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["ruled_out_by_speech"] == ["_silence_"] and first["label"] != "_silence_"
    # no speech in the quiet one: every word (each of whose training clips held some) is ruled out
    words = sorted(str(c) for c in HMMRecognizer.load(fruit_model_path).classes_ if c != "_silence_")
    assert second["ruled_out_by_speech"] == words and second["label"] == "_silence_"
    assert main(["recognize", str(fruit_model_path), str(real)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]  # ruled-out labels come last
    assert "_silence_" in last and "ruled out" in last


def test_a_file_without_speech_is_silence_or_left_to_the_models():
    """The shipped models: ``commands`` has ``_silence_``, so a file without speech is that;
    ``digits`` has only words, so nothing is ruled out and the models decide as before."""
    quiet = np.random.default_rng(1).normal(0, 1e-3, 16000)
    commands = HMMRecognizer.load("commands")
    r = commands.recognize(quiet)
    assert r.label == "_silence_"
    assert {str(commands.classes_[k]) for k in r.ruled_out} == {str(c) for c in commands.classes_} - {"_silence_"}
    digits = HMMRecognizer.load("digits")
    alone = digits.recognize(quiet[:8000])
    assert alone.ruled_out == frozenset() and alone.label == digits.classes_[int(np.argmax(alone.loglik))]

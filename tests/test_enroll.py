"""hmmrec.enroll.extend: new words and adapted ones on top of a trained model, without its training data."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import sound_files

from hmmrec import HMMRecognizer, audio
from hmmrec.enroll import extend
from hmmrec.errors import NotFittedError, ParameterError
from hmmrec.progress import TrainingProgress
from hmmrec.speech import listen


def takes(split: str, label: str, n: int | None = None, start: int = 0) -> list[str]:
    files = sound_files(split, label)
    return [str(f) for f in files[start: None if n is None else start + n]]


@pytest.fixture(scope="module")
def extended(fruit_model):
    """The session fruit model (kiwi, orange, pineapple, _silence_) taught lime and apple
    from 5 takes each, and adapted to 5 takes of kiwi. Trains its own: extend is what is tested."""
    X = takes("train", "lime", 5) + takes("train", "apple", 5) + takes("train", "kiwi", 5, start=6)
    y = ["lime"] * 5 + ["apple"] * 5 + ["kiwi"] * 5
    events: list[TrainingProgress] = []
    rec = extend(fruit_model, X, y, own_weight=3, progress=events.append)
    return rec, events


def test_new_words_are_added_and_the_rest_is_kept(fruit_model, extended):
    rec, _ = extended
    assert list(rec.classes_) == ["_silence_", "apple", "kiwi", "lime", "orange", "pineapple"]
    old = {str(c): k for k, c in enumerate(fruit_model.classes_)}
    for k, label in enumerate(rec.classes_):
        if label in ("orange", "pineapple", "_silence_"):  # untouched: the very same models
            assert rec.models_[k] is fruit_model.models_[old[label]]
            assert rec.stream_models_[k] is fruit_model.stream_models_[old[label]]
    assert rec.background_ is fruit_model.background_ and rec.filler_ is fruit_model.filler_
    assert rec.temperature_ == fruit_model.temperature_ and rec.feature_config_ == fruit_model.feature_config_
    assert rec.get_params() == fruit_model.get_params()


def test_a_known_word_is_adapted_means_only(fruit_model, extended):
    rec, _ = extended
    before = fruit_model.models_[list(fruit_model.classes_).index("kiwi")]
    after = rec.models_[list(rec.classes_).index("kiwi")]
    assert not np.allclose(before.means, after.means)
    np.testing.assert_array_equal(before.variances, after.variances)
    np.testing.assert_array_equal(before.transmat, after.transmat)
    np.testing.assert_array_equal(before.weights, after.weights)


def test_held_out_takes_of_the_new_words_are_recognised(extended):
    rec, _ = extended
    for word in ("lime", "apple"):
        held_out = takes("test", word)
        assert (rec.predict(held_out) == word).mean() >= 0.75, word
    assert (rec.predict(takes("test", "orange")) == "orange").mean() >= 0.75  # the base's words still work


def test_the_base_is_left_as_it_was(fruit_model, extended):
    assert list(fruit_model.classes_) == ["_silence_", "kiwi", "orange", "pineapple"]
    assert len(fruit_model.models_) == len(fruit_model.bank.params) == 4
    assert "extended" not in fruit_model.training_summary_


def test_summary_progress_and_model_file(extended, tmp_path):
    rec, events = extended
    s = rec.training_summary_
    assert s["extended"]["new_words"] == ["apple", "lime"] and s["extended"]["adapted_words"] == ["kiwi"]
    assert s["extended"]["own_weight"] == 3 and s["extended"]["takes"] == {"apple": 5, "kiwi": 5, "lime": 5}
    assert s["examples"]["lime"] == 5 and s["examples"]["kiwi"] == 6 + 5
    assert set(s["duration_s"]) >= {"apple", "lime"} and set(s["n_states"]) >= {"apple", "lime"}
    assert events[0].stage == "features" and events[-1].stage == "done"
    assert [e.done for e in events if e.stage == "model"] == [0, 1, 2, 3]
    again = HMMRecognizer.load(rec.save(tmp_path / "taught.model"))
    assert list(again.classes_) == list(rec.classes_)
    np.testing.assert_allclose(again.loglik(takes("test", "lime")), rec.loglik(takes("test", "lime")))
    # the stream has what it needs of the new words: their typical durations
    word_s = rec.stream_models().word_s
    assert all(np.isfinite(word_s[list(rec.classes_).index(w)]) and word_s[list(rec.classes_).index(w)] > 0
               for w in ("apple", "lime"))


def test_the_words_share_of_takes_without_speech(fruit_model, extended):
    """New words keep the share of their takes that held no speech; a known word's share
    counts the base's examples and the new takes together (:mod:`hmmrec.speech`)."""
    rec, _ = extended
    assert {w: rec.no_speech_share_[w] for w in ("apple", "kiwi", "lime")} == {"apple": 0.0, "kiwi": 0.0, "lime": 0.0}
    noise = [str(f) for f in sound_files("train", "_silence_") if not listen(*audio.load(f)).heard][:2]
    again = extend(fruit_model, takes("train", "lime", 4) + noise[:1] + noise[1:], ["lime"] * 5 + ["kiwi"], n_jobs=1)
    assert again.no_speech_share_["lime"] == pytest.approx(1 / 5)
    before = fruit_model.n_examples_["kiwi"]
    assert again.no_speech_share_["kiwi"] == pytest.approx(1 / (before + 1), abs=1e-4)


def test_extra_stream_models_follow_their_label():
    """The shipped commands model's 15 further _unknown_ models stay _unknown_'s when new words
    sort before it; its licence stays in the summary."""
    base = HMMRecognizer.load("commands")
    rec = extend(base, takes("train", "apple", 5) + takes("train", "banana", 5), ["apple"] * 5 + ["banana"] * 5)
    unknown = list(rec.classes_).index("_unknown_")
    assert list(rec.classes_[:4]) == ["_silence_", "_unknown_", "apple", "banana"]
    assert len(rec.extra_labels_) == len(base.extra_labels_) and set(rec.extra_labels_) == {unknown}
    assert rec.training_summary_["data"] == base.training_summary_["data"]
    assert (rec.predict(takes("test", "apple")) == "apple").mean() >= 0.75


@pytest.mark.parametrize("y, weight, message", [
    (["_silence_"], 5, "non-keyword label '_silence_'"),
    (["lime"], 0, "own_weight must be a whole number >= 1"),
    (["lime"], 2.5, "own_weight must be a whole number >= 1"),
    (["lime", "kiwi"], 5, "different lengths"),
])
def test_bad_arguments_are_clear_errors(fruit_model, y, weight, message):
    with pytest.raises(ParameterError, match=message):
        extend(fruit_model, takes("train", "lime", 1), y, own_weight=weight)


def test_an_unfitted_base_is_refused():
    with pytest.raises(NotFittedError, match="fitted recognizer"):
        extend(HMMRecognizer(), takes("train", "lime", 1), ["lime"])

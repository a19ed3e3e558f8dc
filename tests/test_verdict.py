"""One recording judged by the stream's rules (hmmrec.stream.decide.judge / judge_recording):
a word the model does not know is "not one of my words", not a confident wrong label.

Uses the session ``fruit_model`` (kiwi, orange, pineapple, _silence_) and the shipped
``digits`` model; FSDD's 7_jackson_32 (a real "seven") comes from ../shared when present.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hmmrec import HMMRecognizer, audio
from hmmrec.errors import ParameterError
from hmmrec.features import raw_features
from hmmrec.stream.decide import (DEFAULT_SENSITIVITY, MARGIN_SHARE, Verdict, judge, judge_recording,
                                  sensitivity_to_min_score, sensitivity_to_threshold, word_lead, word_score)
from hmmrec.stream.scoring import WindowScorer

from helpers import SOUNDS, shared_dataset

KIWI = SOUNDS / "test" / "kiwi" / "kiwi_en-gb-scotland_f2_1.wav"
APPLE = SOUNDS / "test" / "apple" / "apple_en-gb-x-rp_f4_1.wav"  # a word the small model was not taught


# -- the rule itself -------------------------------------------------------------------------------
def test_judge_takes_a_keyword_only_above_both_levels_of_the_sensitivity():
    s = DEFAULT_SENSITIVITY
    thr, mins = sensitivity_to_threshold(s), sensitivity_to_min_score(s)
    margin = thr + 0.5
    lead = mins - MARGIN_SHARE * margin  # a score of exactly the minimum (0.5 and 0.25 are exact in binary)
    ok = judge("kiwi", margin, 0.6, lead, s)
    assert ok.accepted and ok.rejected_because == "" and ok.reason == ""
    assert (ok.threshold, ok.min_score, ok.sensitivity, ok.score, ok.lead) == (thr, mins, s, mins, lead)
    # the stream's comparisons: margin strictly above the threshold, score from the minimum up
    at = judge("kiwi", thr, 1.0, 10.0, s)
    assert not at.accepted and at.rejected_because == "margin" and f"{thr:.2f}" in at.reason
    low = judge("kiwi", margin, 0.99, lead - 0.01, s)
    assert not low.accepted and low.rejected_because == "score" and f"{mins:.2f}" in low.reason
    behind = judge("kiwi", -1.5, 0.99, 10.0, s)
    assert behind.rejected_because == "margin" and "fits the recording better" in behind.reason
    # a non-keyword class is never a word, however sure; silence is said as such
    for label in ("_silence_", "_unknown_"):
        v = judge(label, 10.0, 1.0, 10.0, s)
        assert not v.accepted and v.rejected_because == "not_a_keyword" and label in v.reason
    silent = judge("kiwi", 10.0, 1.0, 10.0, s, silent=True)
    assert not silent.accepted and silent.rejected_because == "silent" and "silent" in silent.reason


def test_judge_follows_the_sensitivity_knob():
    # a margin of 2 nats/frame and a lead of 0.5 on its own: rejected at the stream's default, taken
    # when more sensitive
    assert not judge("kiwi", 2.0, 0.3, 0.5, 0.5).accepted
    assert judge("kiwi", 2.0, 0.3, 0.5, 0.9).accepted
    with pytest.raises(ParameterError, match="sensitivity"):
        judge("kiwi", 2.0, 0.3, 0.5, 1.5)


def test_verdict_to_dict_is_json():
    d = judge("_silence_", -np.inf, 1.0, np.inf).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["accepted"] is False and d["rejected_because"] == "not_a_keyword"
    assert d["margin"] is None and d["lead"] is None and d["score"] is None
    assert set(d) == {f for f in Verdict.__dataclass_fields__}


# -- a recording -----------------------------------------------------------------------------------
def test_a_known_word_is_accepted(fruit_model):
    r = fruit_model.recognize(str(KIWI))
    v = judge_recording(fruit_model, str(KIWI))
    assert v.accepted and v.label == r.label == "kiwi"
    assert v.posterior == pytest.approx(r.confidence)
    assert v.lead == word_lead(r.proba, r.best) > 0
    assert v.score == word_score(v.margin, v.lead) >= v.min_score
    assert v.margin > v.threshold
    # the same verdict from the signal, with the recognition handed over
    y, _ = audio.load(KIWI, fruit_model.feature_config_.sr)
    assert judge_recording(fruit_model, y, recognition=r) == v


def test_recognize_and_judge_is_recognize_then_judge_recording(fruit_model):
    from hmmrec.stream import recognize_and_judge

    for f in (KIWI, APPLE):
        r, v = recognize_and_judge(fruit_model, str(f), 0.7)
        alone = fruit_model.recognize(str(f))
        assert r.label == alone.label and r.ruled_out == alone.ruled_out
        np.testing.assert_array_equal(r.loglik, alone.loglik)
        np.testing.assert_array_equal(r.proba, alone.proba)
        assert v == judge_recording(fruit_model, str(f), 0.7)


def test_one_recordings_evidence_gives_the_verdict_at_every_sensitivity(fruit_model):
    """What the dashboard's sensitivity slider relies on: the evidence, computed once,
    judged at each sensitivity, is judge_recording at that sensitivity."""
    from hmmrec.stream import recording_evidence

    for f in (KIWI, APPLE):
        e = recording_evidence(fruit_model, str(f))
        verdicts = [e.verdict(s) for s in (0.0, 0.3, 0.5, 0.8, 1.0)]
        assert verdicts == [judge_recording(fruit_model, str(f), s) for s in (0.0, 0.3, 0.5, 0.8, 1.0)]
        assert len({(v.threshold, v.min_score) for v in verdicts}) == 5  # (the sensitivities really differ)


def test_another_word_noise_and_silence_are_rejected(fruit_model):
    sr = fruit_model.feature_config_.sr
    other = judge_recording(fruit_model, str(APPLE))
    assert not other.accepted and other.label == "pineapple" and other.rejected_because == "margin"
    noise = judge_recording(fruit_model, np.random.default_rng(0).normal(0, 0.1, sr).astype(np.float32))
    assert not noise.accepted and noise.rejected_because == "not_a_keyword"
    silence = judge_recording(fruit_model, np.zeros(sr, np.float32))
    assert not silence.accepted and silence.rejected_because == "silent"
    with pytest.raises(ParameterError, match="too short"):
        judge_recording(fruit_model, np.zeros(80, np.float32))


def test_the_margin_is_the_stream_window_margin(fruit_model):
    """The recording's margin is the one a stream window of the whole recording gets."""
    cfg = fruit_model.feature_config_
    y, _ = audio.load(KIWI, cfg.sr)
    raw = raw_features(y, cfg)
    seconds = len(raw) * cfg.hop_s
    scorer = WindowScorer(fruit_model.stream_models(), seconds, seconds)
    (ws, _), = scorer.push(raw, final=True)
    k = list(fruit_model.classes_).index("kiwi")
    assert judge_recording(fruit_model, y).margin == pytest.approx(ws.margins[k])
    # score_segment leaves a streaming scorer's windows alone
    scorer.reset()
    before = [w.margins.copy() for w, _ in scorer.push(raw[:150])]
    scorer.reset()
    scorer.score_segment(raw)
    after = [w.margins.copy() for w, _ in scorer.push(raw[:150])]
    assert len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("model, accepted, label", [("fruit", False, None), ("digits", True, "seven")])
def test_fsdd_seven(fruit_model, model, accepted, label):
    """The issue's example: FSDD 7_jackson_32 was "silence, confidence 100%" through a fruit
    model; a fruit model now rejects it, the shipped digits model takes it for "seven"."""
    seven = shared_dataset("fsdd/recordings/7_jackson_32.wav")
    rec = fruit_model if model == "fruit" else HMMRecognizer.load(model)
    v = judge_recording(rec, str(seven))
    assert v.accepted is accepted
    if label:
        assert v.label == label

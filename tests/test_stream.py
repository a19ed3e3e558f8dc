"""The streaming keyword recognizer on the recorded streams of ``sounds/streams``.

A model of all the fruit words is trained once (4 Gaussians, warped copies but no
noise: a few seconds); the two streams have a truth list (``streamN.csv``), stream2 also holds words
the model does not know (``_unknown_`` rows), which must not become events. Tests that need
just a trained model (settings, buffers, silence) use the session ``fruit_model``.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from hmmrec import HMMRecognizer, audio
from hmmrec.errors import ParameterError
from hmmrec.stream import (StreamRecognizer, events_at_sensitivities, sensitivity_to_min_score,
                           sensitivity_to_threshold, stream_file, strictest_score)
from hmmrec.stream.decide import MARGIN_SHARE, MIN_TAIL_S, word_lead, word_score
from hmmrec.stream.scoring import KEYWORD_SLACK, VERIFY_PAD_S

from helpers import SOUNDS, sound_files

WORDS = ["apple", "banana", "kiwi", "lime", "orange", "peach", "pineapple", "_silence_"]
STREAMS = SOUNDS / "streams"


# its own model: the event tests find (and must not mistake) all seven fruit keywords of the streams
@pytest.fixture(scope="module")
def model():
    X, y = [], []
    for label in WORDS:
        for f in sound_files("train", label):
            X.append(str(f))
            y.append(label)
    return HMMRecognizer(n_mix=4, speeds=(), noise_snrs=(), n_jobs=1).fit(X, y)


def truth_of(name):
    with open(STREAMS / f"{name}.csv", newline="") as fh:
        return [{"label": r["label"], "start": float(r["start"]), "end": float(r["end"])} for r in csv.DictReader(fh)]


def run(model, y, chunk, **kw):
    stream = StreamRecognizer(model, **kw)
    events = []
    for i in range(0, len(y), chunk):
        events += stream.push(y[i:i + chunk])
    return events + stream.flush()


def match(events, truth):
    """(hits, false alarms): an event hits an unused truth word of its label that it overlaps."""
    used, hits, fas = set(), [], []
    for e in events:
        i = next((i for i, t in enumerate(truth) if i not in used and t["label"] == e.label
                  and e.start < t["end"] and e.end > t["start"]), None)
        if i is None:
            fas.append(e)
        else:
            used.add(i)
            hits.append((e, truth[i]))
    return hits, fas


@pytest.mark.parametrize("name, min_hits", [("stream1", 8), ("stream2", 6)])
def test_streams_give_their_keywords_aligned_and_soon(model, name, min_hits):
    truth = truth_of(name)
    keywords = [t for t in truth if not t["label"].startswith("_")]
    events = list(stream_file(model, STREAMS / f"{name}.wav"))
    hits, fas = match(events, keywords)
    assert len(hits) >= min_hits, (events, keywords)
    assert not fas, fas  # in particular nothing on the _unknown_ words of stream2
    for e, t in hits:
        assert abs(e.start - t["start"]) < 0.25 and abs(e.end - t["end"]) < 0.25, (e, t)
        # decided within 0.6 s of the word's end: at least 0.1 s after its sound has faded
        # to 15 dB below its peak, which may be a few ms before the end in the truth list
        assert -0.05 < e.time - t["end"] <= 0.6, (e, t)
        assert e.time >= e.start + 0.1
        assert e.score >= sensitivity_to_min_score(0.5)  # (the word's score, which the knob's level was put to)
        assert all(type(v) is float for v in (e.start, e.end, e.score, e.time, e.margin)) and "np." not in repr(e)
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_chunking_does_not_change_the_events(model):
    """Files, arrays and microphones cut the audio differently; the events must not care."""
    sr = model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream1.wav", sr)
    ref = run(model, y, 1600)
    assert len(ref) >= 7
    for chunk in (160, 1000, 4096, 16000):
        got = run(model, y, chunk)
        assert [(e.label, e.start, e.end) for e in got] == [(e.label, e.start, e.end) for e in ref]
        np.testing.assert_allclose([e.score for e in got], [e.score for e in ref], rtol=1e-9)
        # an event is reported at the end of the chunk in which it was decided
        for a, b in zip(got, ref):
            assert b.time - 0.1 - 1e-9 <= a.time <= b.time + chunk / sr + 1e-9


def test_single_samples_equal_big_chunks_on_a_short_piece(model):
    sr = model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream1.wav", sr)
    y = y[: int(2.5 * sr)]  # the first word (peach, 1.0-1.5 s)
    one = run(model, y, 1)
    big = run(model, y, len(y))
    assert [(e.label, e.start, e.end) for e in one] == [(e.label, e.start, e.end) for e in big]
    assert [e.label for e in one] == ["peach"]


@pytest.mark.parametrize("kind", ["zeros", "quiet noise", "loud noise"])
def test_no_events_without_words(model, kind):
    sr = model.feature_config_.sr
    rng = np.random.default_rng(0)
    n = 20 * sr
    y = {"zeros": np.zeros(n), "quiet noise": rng.normal(0, 1e-3, n),
         "loud noise": rng.normal(0, 0.05, n)}[kind].astype(np.float32)
    assert run(model, y, 1600, sensitivity=0.5) == []


def test_zeros_are_not_even_scored(fruit_model):
    stream = StreamRecognizer(fruit_model, keep_history=True)
    stream.push(np.zeros(5 * fruit_model.feature_config_.sr, dtype=np.float32))
    assert stream.history and all(ws.margin == -np.inf and ws.best == -1 for ws in stream.history)


def test_events_never_overlap_and_refractory_holds(model):
    sr = model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream2.wav", sr)
    events = run(model, y, 1600, sensitivity=1.0, refractory_s=0.3)
    for a, b in zip(events, events[1:]):
        assert b.start >= a.end + 0.3 - 1e-9, (a, b)


def test_more_sensitivity_never_fewer_events(model):
    sr = model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream2.wav", sr)
    counts = [len(run(model, y, 1600, sensitivity=s)) for s in (0.0, 0.5, 1.0)]
    assert counts == sorted(counts), counts
    assert sensitivity_to_threshold(0.0) > sensitivity_to_threshold(0.5) > sensitivity_to_threshold(1.0)
    assert sensitivity_to_min_score(0.0) > sensitivity_to_min_score(0.5) > sensitivity_to_min_score(1.0) > 0
    for f in (sensitivity_to_threshold, sensitivity_to_min_score):
        with pytest.raises(ParameterError):
            f(1.5)


def test_the_knob_reaches_further_for_a_model_that_knows_its_words_confidently():
    """A model whose training keywords lead by more than 3 nats in the median demands that
    much at sensitivity 0; every setting of the usual knob is one of its settings too, from
    the default up at the same sensitivity, and with the usual strict end it is the usual line."""
    grid = np.linspace(0, 1, 201)
    usual = [(3.0 + (0.5 - 3.0) * v, 1.0 + (0.5 - 1.0) * v) for v in grid]
    assert [(sensitivity_to_min_score(v), sensitivity_to_threshold(v)) for v in grid] == usual
    fine = np.linspace(0, 1, 20001)
    for strictest in (4.2, 6.5):
        pairs = np.array([(sensitivity_to_min_score(v, strictest), sensitivity_to_threshold(v, strictest))
                          for v in fine])
        assert pairs[0, 0] == pytest.approx(strictest) and pairs[0, 1] == 1.0
        assert np.all(np.diff(pairs[:, 0]) < 0) and np.all(np.diff(pairs[:, 1]) <= 0)
        assert sensitivity_to_min_score(0.25, strictest) == pytest.approx((strictest + 1.75) / 2)
        for v, want in zip(grid, usual):
            if v >= 0.5:  # (the same knob)
                assert (sensitivity_to_min_score(v, strictest), sensitivity_to_threshold(v, strictest)) == want
            else:  # (the usual setting, at a sensitivity of its own)
                assert np.min(np.abs(pairs - want).max(1)) < 2e-3, (strictest, v)


def test_a_model_s_strict_end_is_its_training_keywords_median_lead(model, tmp_path):
    lead = model.training_summary_["keyword_lead_p50"]
    assert np.isfinite(lead) and strictest_score(model) == max(3.0, lead)
    assert lead > 3.0  # (synthetic voices, known confidently: so the checks below tell the two ends apart)
    again = HMMRecognizer.load(model.save(tmp_path / "m.model"))
    assert again.training_summary_["keyword_lead_p50"] == lead and strictest_score(again) == strictest_score(model)
    stream = StreamRecognizer(model, sensitivity=0.0)
    assert stream.decider.min_score == pytest.approx(strictest_score(model))
    stream.set_sensitivity(0.5)
    assert stream.decider.min_score == pytest.approx(1.75)
    # a model file from before the field: the usual strict end
    del again.training_summary_["keyword_lead_p50"]
    assert strictest_score(again) == 3.0
    assert StreamRecognizer(again, sensitivity=0.0).decider.min_score == 3.0


def test_memory_stays_bounded_on_a_long_stream(fruit_model):
    """Two minutes of audio: the buffers hold one window, no history unless asked."""
    sr = fruit_model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream1.wav", sr)
    stream = StreamRecognizer(fruit_model)
    sizes = []
    for rep in range(5):
        for i in range(0, len(y), 1600):
            stream.push(y[i:i + 1600])
        sizes.append((len(stream.scorer._frames), len(stream._features._static), len(stream.history)))
    window = stream.scorer.window_frames
    assert all(f <= window + stream.scorer.hop_frames + 1 and s <= 10 and h == 0 for f, s, h in sizes), sizes
    assert stream.time == pytest.approx(5 * len(y) / sr)


def test_window_scores_explain_the_decision(model):
    sr = model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream1.wav", sr)
    stream = StreamRecognizer(model, keep_history=True)
    events = run_with(stream, y)
    kw = np.array([not c.startswith("_") for c in model.classes_])
    for ws in stream.history:
        if np.isfinite(ws.margin):
            assert ws.margins[ws.best] == pytest.approx(ws.margin)
            assert np.all(np.isneginf(ws.margins[~kw]))
            assert ws.best == int(np.argmax(np.where(kw, ws.loglik, -np.inf)))
            # a keyword's margin: over the non-keyword hypotheses, and over the best other
            # keyword plus the slack, whichever is smaller (per frame of the keyword)
            cfg = model.feature_config_
            n = round((ws.end - ws.start - cfg.win_s + cfg.hop_s) / cfg.hop_s)
            frames = np.minimum(stream.scorer.word_frames, n)
            rival = max([ws.background] + list(ws.loglik[~kw]))
            for k in np.flatnonzero(kw):
                other = max(ws.loglik[j] for j in np.flatnonzero(kw) if j != k)
                want = min(ws.loglik[k] - rival, ws.loglik[k] - other + KEYWORD_SLACK * frames[k]) / frames[k]
                assert ws.margins[k] == pytest.approx(want)
    # each event is the best of the windows that held its word until it was decided, among
    # those that also held the word's fade (a window the word runs into the end of may not decide)
    thr = sensitivity_to_threshold(stream.sensitivity)
    for e in events:
        before = [ws for ws in stream.history if ws.start <= e.start + 1e-9 and ws.end >= e.end - 1e-9
                  and ws.end <= e.time + 1e-9
                  and ws.best >= 0 and model.classes_[ws.best] == e.label]
        assert before and e.margin > thr
        assert any(ws.margin == pytest.approx(e.margin) for ws in before)
        faded = [ws.margin for ws in before if ws.end >= e.end + MIN_TAIL_S]
        assert e.margin >= max(faded, default=-np.inf) - 1e-9


def run_with(stream, y, chunk=1600):
    events = []
    for i in range(0, len(y), chunk):
        events += stream.push(y[i:i + chunk])
    return events + stream.flush()


def test_bad_settings_and_chunks(fruit_model):
    with pytest.raises(ParameterError):
        StreamRecognizer(fruit_model, hop_s=2.0, window_s=1.0)
    with pytest.raises(ParameterError):
        StreamRecognizer(fruit_model, refractory_s=-1)
    stream = StreamRecognizer(fruit_model)
    with pytest.raises(ParameterError, match="1-D"):
        stream.push(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(ParameterError, match="NaN"):
        stream.push(np.array([0.0, np.nan], dtype=np.float32))


def test_one_pass_at_many_sensitivities_equals_separate_streams(model):
    y, _ = audio.load(STREAMS / "stream2.wav", 16000)
    chunks = [y[i:i + 1600] for i in range(0, len(y), 1600)]
    levels = [0.2, 0.5, 0.9]
    swept = events_at_sensitivities(model, chunks, levels)
    assert sorted(swept) == levels
    for s in levels:
        assert swept[s] == run(model, y, 1600, sensitivity=s)
    assert len(swept[0.9]) >= len(swept[0.2]) > 0
    with pytest.raises(ParameterError):
        events_at_sensitivities(model, chunks, [1.5])
    with pytest.raises(ParameterError):
        events_at_sensitivities(model, [np.full(10, np.nan, np.float32)], [0.5])


def test_decision_clock_starts_where_the_sound_fades():
    """A Viterbi end that runs into the noise after a word does not delay the decision."""
    from hmmrec.stream import Decider, WindowScore

    hop, win = 0.01, 0.025
    energy = np.full(100, -10.0)  # 1 s window: noise ...
    energy[20:50] = 0.0  # ... a word from 0.2 to 0.5 s, 43 dB above it ...
    energy[50:90] = -5.0  # ... and a tail 22 dB down that the alignment swallows
    frames = energy[:, None]
    ws = WindowScore(start=0.0, end=0.995, first_frame=0, loglik=np.zeros(2), background=0.0, best=0, margin=5.0)
    d = Decider(threshold=1.0, patience_windows=10, refractory_s=0.3, patience_s=0.1, frame_s=hop, frame_len_s=win)
    assert d.sound_end(ws, frames, 0.2, 0.9 + win) == pytest.approx(0.49 + win)
    assert d.sound_end(ws, None, 0.2, 0.9) == 0.9  # no frames: the aligned end
    # the window that found the word ends more than 0.1 s after the sound faded: it decides at
    # once, while the Viterbi end (0.925 s) alone would have kept it waiting
    def align(w, f):
        return 0.2, 0.9 + win

    assert Decider(1.0, 10, 0.3, 0.1, frame_s=hop, frame_len_s=win).update(ws, None, 1.0, align) == []
    events = d.update(ws, frames, 1.0, align)
    assert [(e.start, e.end, e.time) for e in events] == [(0.2, pytest.approx(0.9 + win), 1.0)]  # aligned span kept


def test_a_word_running_into_the_window_end_waits_for_a_later_window():
    """Only a window that holds the word's fade decides on it (else it may be the start of a longer word)."""
    from hmmrec.stream import Decider, WindowScore

    hop, win = 0.01, 0.025
    energy = np.full(100, -10.0)
    energy[60:98] = 0.0  # a word from 0.6 s still sounding at the end of the 1 s window
    frames = energy[:, None]
    ws = WindowScore(start=0.0, end=0.995, first_frame=0, loglik=np.zeros(2), background=0.0, best=0, margin=5.0)

    def align(w, f):
        return 0.6, 0.97 + win

    def decider():
        return Decider(1.0, 1, 0.3, 0.1, frame_s=hop, frame_len_s=win, min_tail_s=0.05)

    d = decider()
    assert d.update(ws, frames, 1.0, align) == [] and d._cand is None
    assert d.flush(1.0) == []
    # the same window at the end of the stream: nothing more can come, it decides
    d = decider()
    d.update(ws, frames, 1.0, align, last=True)
    assert [(e.label, e.start) for e in d.flush(1.0)] == [("0", 0.6)]
    # a later window in which the sound has faded (0.3 s of it inside) does decide
    ws2 = WindowScore(start=0.3, end=1.295, first_frame=30, loglik=np.zeros(2), background=0.0, best=0, margin=5.0)
    d = decider()
    d.update(ws, frames, 1.0, align)
    events = d.update(ws2, np.r_[energy[30:], np.full(30, -10.0)][:, None], 1.3, align)
    assert [(e.label, e.start, e.time) for e in events] == [("0", 0.6, 1.3)]


def test_a_window_that_finds_a_word_long_after_it_faded_does_not_decide():
    from hmmrec.stream import Decider, WindowScore

    hop, win = 0.01, 0.025
    energy = np.full(100, -10.0)
    energy[10:40] = 0.0  # a word from 0.1 to 0.4 s, faded 0.6 s before the window's end

    def align(w, f):
        return w.start + 0.1, w.start + 0.4 + win

    def decide(first_frame):
        start = first_frame * hop
        ws = WindowScore(start=start, end=start + 0.995, first_frame=first_frame, loglik=np.zeros(2),
                         background=0.0, best=0, margin=5.0)
        d = Decider(1.0, 1, 0.3, 0.1, frame_s=hop, frame_len_s=win, min_tail_s=0.05, max_tail_s=0.35)
        return d.update(ws, energy[:, None], ws.end, align) + d.flush(ws.end)

    assert decide(30) == []  # earlier windows had their chance at it
    assert [e.start for e in decide(0)] == [pytest.approx(0.1)]  # the stream's first window had none before it


def test_a_word_quieter_than_the_rest_of_its_window_does_not_decide():
    """The word a window decides on must hold the window's loudest sound (within max_peak_gap_db)."""
    from hmmrec.stream import Decider, WindowScore

    hop, win = 0.01, 0.025
    energy = np.full(100, -10.0)  # noise (log energy, natural log units)
    energy[10:40] = -6.0  # a faint stretch from 0.1 to 0.4 s (a step in the noise floor) ...
    energy[50:80] = 0.0  # ... and, louder by 26 dB, a word from 0.5 to 0.8 s
    frames = energy[:, None]
    ws = WindowScore(start=0.0, end=0.995, first_frame=0, loglik=np.zeros(2), background=0.0, best=0, margin=5.0)

    def decider():
        return Decider(1.0, 1, 0.3, 0.1, frame_s=hop, frame_len_s=win, max_peak_gap_db=6.0)

    d = decider()
    assert d.peak_gap_db(ws, frames, 0.1, 0.4 + win) == pytest.approx(6.0 * 10 / np.log(10))
    assert d.peak_gap_db(ws, frames, 0.45, 0.8 + win) == 0.0
    assert d.peak_gap_db(ws, None, 0.1, 0.4) == 0.0  # no frames: nothing to compare
    # a keyword model that explains the faint stretch: no candidate, no event
    assert d.update(ws, frames, 1.0, lambda w, f: (0.1, 0.4 + win)) == [] and d._cand is None
    assert d.flush(1.0) == []
    # one that explains the loud word does decide
    d = decider()
    events = d.update(ws, frames, 1.0, lambda w, f: (0.45, 0.8 + win)) + d.flush(1.0)
    assert [e.start for e in events] == [0.45]
    # without the rule (the default) the faint stretch would have made an event
    d = Decider(1.0, 1, 0.3, 0.1, frame_s=hop, frame_len_s=win)
    assert [e.start for e in d.update(ws, frames, 1.0, lambda w, f: (0.1, 0.4 + win)) + d.flush(1.0)] == [0.1]


def test_a_word_its_own_classification_doubts_does_not_decide():
    """A window counts for a word only if the word's score (its lead over the next label when
    classified on its own, plus a share of the window's margin) reaches min_score."""
    from hmmrec.stream import Decider, WindowScore
    from hmmrec.stream.decide import MARGIN_SHARE

    hop, win = 0.01, 0.025
    energy = np.full(100, -10.0)
    energy[20:50] = 0.0  # a word from 0.2 to 0.5 s
    frames = energy[:, None]

    def window(first_frame, margin):
        start = first_frame * hop
        return WindowScore(start=start, end=start + 0.995, first_frame=first_frame, loglik=np.zeros(2),
                           background=0.0, best=1, margin=margin)

    def align(w, f):
        return 0.2, 0.5 + win

    calls = []

    def posterior_of(lead):  # (three labels: the word's leads the next by `lead`, the third is far behind)
        def posterior(w, f, start, end):
            calls.append((w.first_frame, start, end))
            p = np.array([1.0, np.exp(lead), 1e-6])
            return p / p.sum()
        return posterior

    def decider(min_score):
        return Decider(1.0, 3, 0.3, 0.1, frame_s=hop, frame_len_s=win, min_score=min_score)

    ws = window(0, 5.0)  # a margin of 5: a score of lead + 5 x MARGIN_SHARE
    need = 5.0 * MARGIN_SHARE + 1.0  # a lead of 1 needed
    d = decider(need)
    assert d.update(ws, frames, 1.0, align, posterior=posterior_of(0.9)) == [] and d._cand is None
    assert d.flush(1.0) == [] and calls == [(0, 0.2, 0.5 + win)]  # asked about the aligned word
    d = decider(need)
    assert [(e.label, e.start) for e in d.update(ws, frames, 1.0, align, posterior=posterior_of(1.1)) + d.flush(1.0)] \
        == [("1", 0.2)]
    # the lead over the next label, not the posterior: the same posterior 0.6, shared with one
    # rival or with many, passes only when the nearest rival is far enough behind
    def shared(p1, rivals):  # the word's label (1) gets p1, its rivals share the rest equally
        p = np.full(rivals + 1, (1 - p1) / rivals)
        p[1] = p1
        return lambda w, f, start, end: p

    d = decider(need)
    assert d.update(ws, frames, 1.0, align, posterior=shared(0.6, 1)) == []  # lead log(0.6/0.4) = 0.41
    d = decider(need)
    assert len(d.update(ws, frames, 1.0, align, posterior=shared(0.6, 8)) + d.flush(1.0)) == 1  # lead log(0.6/0.05)
    # a doubted window neither decides nor blocks: a later window of the same word that
    # passes (with a lower margin, and a larger lead) still makes the event
    d = decider(need)
    assert d.update(ws, frames, 1.0, align, posterior=posterior_of(0.9)) == []
    ws2 = window(1, 4.0)
    events = d.update(ws2, frames, 1.01, align, posterior=posterior_of(1.5)) + d.flush(1.01)
    assert [e.start for e in events] == [0.2]
    assert events[0].score == pytest.approx(1.5 + 4.0 * MARGIN_SHARE)  # the score that passed, of the window that did
    # without the check (min_score None) the word is never classified on its own, and the
    # event's score is the window's margin
    calls.clear()
    d = decider(None)
    events = d.update(ws, frames, 1.0, align, posterior=posterior_of(-5.0)) + d.flush(1.0)
    assert [e.score for e in events] == [5.0] and calls == []


def test_the_word_check_is_the_word_classified_as_a_file(model):
    """The posterior a decision rests on is the one predict_proba gives the word cut out of the audio,
    and the word's score from it reaches the level of the sensitivity."""
    sr = model.feature_config_.sr
    y, _ = audio.load(STREAMS / "stream1.wav", sr)
    stream = StreamRecognizer(model)
    checked = {}
    posterior = stream.scorer.posterior

    def recording(ws, frames, start, end, signal=None):
        p = posterior(ws, frames, start, end, signal)
        checked.setdefault((start, end), []).append((p, ws))  # (the window's margin may yet be refined)
        return p

    stream.scorer.posterior = recording
    events = run_with(stream, y)
    assert len(events) >= 8
    need = sensitivity_to_min_score(stream.sensitivity)
    labels = list(model.classes_)
    for e in events:
        k = labels.index(e.label)
        # the event's score is the word's (its lead on its own plus a share of its window's
        # margin, above the threshold), which reached the level the sensitivity sets
        found = [p for p, ws in checked[(e.start, e.end)] if ws.margin > sensitivity_to_threshold(stream.sensitivity)
                 and e.score == pytest.approx(word_score(ws.margin, word_lead(p, k)), abs=1e-9)]
        assert e.score >= need and found, (e, checked[(e.start, e.end)])
        p = found[0]
        # the same word cut from the samples (frames on the same grid) and classified as a file
        a, b = int(round((e.start - VERIFY_PAD_S) * sr)), int(round((e.end + VERIFY_PAD_S) * sr))
        q = model.predict_proba([y[a:b]])[0]
        assert np.abs(p - q).max() < 0.1, (e, p, q)

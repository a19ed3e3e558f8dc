"""Adapting to the voice it hears, without labels (hmmrec.adapt, hmmrec eval --adapt)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from hmmrec import HMMRecognizer
from hmmrec.adapt import adapt
from hmmrec.cli import main
from hmmrec.corpus import Corpus, Utterance
from hmmrec.errors import ParameterError

from helpers import SOUNDS, shared_dataset, sound_files


def test_adapting_leaves_the_model_and_background_labels_alone_and_moves_word_means(fruit_model):
    files = [str(p) for p in sorted((SOUNDS / "test").glob("*/*.wav"))]
    before = [m.means.copy() for m in fruit_model.models_]
    adapted, how = adapt(fruit_model, files)
    assert how.n_inputs == len(files) and 0 < how.n_used <= len(files) and "_silence_" not in how.labels
    for k, lab in enumerate(fruit_model.classes_):
        np.testing.assert_array_equal(fruit_model.models_[k].means, before[k])  # the original is untouched
        moved = not np.array_equal(adapted.models_[k].means, before[k])
        assert moved == (lab in how.labels), lab
        np.testing.assert_array_equal(adapted.models_[k].variances, fruit_model.models_[k].variances)
    assert adapted.predict(files).shape == (len(files),)
    with pytest.raises(ParameterError):
        adapt(fruit_model, files, passes=0)


@pytest.fixture(scope="module")
def two_speaker_digits():
    """Digits of two FSDD speakers (takes 5-14) and another speaker's takes 0-19, written as a manifest."""
    rec_dir = shared_dataset("fsdd/recordings")
    train = [p for p in sorted(rec_dir.glob("*.wav"))
             if p.stem.split("_")[1] in ("george", "jackson") and 5 <= int(p.stem.split("_")[2]) < 15]
    test = [p for p in sorted(rec_dir.glob("*_nicolas_*.wav")) if int(p.stem.split("_")[2]) < 20]
    # (both networks, though two speakers would get one by default: the second's view goes through too)
    rec = HMMRecognizer(filterbank_net=True, n_jobs=1).fit([str(p) for p in train],
                                                          [p.stem.split("_")[0] for p in train])
    return rec, Corpus(Utterance(str(p), p.stem.split("_")[0], "nicolas") for p in test)


def test_adapting_to_a_new_speaker_without_labels_helps(two_speaker_digits):
    rec, test = two_speaker_digits
    before = np.mean(rec.predict(test.paths) == np.array(test.y))
    adapted, how = adapt(rec, test.paths)  # paths only: no label reaches the adaptation
    after = np.mean(adapted.predict(test.paths) == np.array(test.y))
    assert how.n_used > 0 and after > before + 0.05, (before, after)


def test_eval_adapt_on_the_command_line(two_speaker_digits, tmp_path, capsys):
    rec, test = two_speaker_digits
    from hmmrec.evaluate import evaluate_files, file_features

    # features given (as eval --adapt does, to extract them once) or not: the same report
    feats, speech, views = file_features(rec, test.paths, speech=True)
    assert all(v is not None and len(v) == len(f) for f, v in zip(feats, views))  # (the second network's view)
    assert evaluate_files(rec, test, features=feats, speech=speech, filterbank=views) == evaluate_files(rec, test)
    model = rec.save(tmp_path / "two.model")
    manifest = tmp_path / "nicolas.csv"
    manifest.write_text("path,label\n" + "".join(f"{u.path},{u.label}\n" for u in test))
    assert main(["eval", str(model), str(manifest), "--json", str(tmp_path / "plain.json")]) == 0
    assert main(["eval", str(model), str(manifest), "--adapt", "--json", str(tmp_path / "adapted.json")]) == 0
    err = capsys.readouterr().err
    assert "adapted to" in err and f"of {len(test)} files recognised confidently enough" in err
    plain, adapted = (json.loads((tmp_path / f).read_text()) for f in ("plain.json", "adapted.json"))
    assert not plain["adapted"] and adapted["adapted"] and adapted["accuracy"] > plain["accuracy"]


def test_eval_adapt_adapts_to_each_speaker_of_the_data_apart(two_speaker_digits, tmp_path, capsys):
    from hmmrec.evaluate import evaluate_adapted, file_features, voices

    rec, nicolas = two_speaker_digits
    rec_dir = shared_dataset("fsdd/recordings")
    theo = [p for p in sorted(rec_dir.glob("*_theo_*.wav")) if int(p.stem.split("_")[2]) < 20]
    test = Corpus(list(nicolas) + [Utterance(str(p), p.stem.split("_")[0], "theo") for p in theo])
    assert [len(g) for g in voices(test)] == [len(nicolas), len(theo)]
    unnamed = Corpus(Utterance(u.path, u.label) for u in test)
    assert voices(unnamed) == [list(range(len(test)))]  # no speakers: one voice

    # what the command must give: each speaker's files recognised by the models adapted to them alone
    apart = [label for who in (nicolas.paths, [str(p) for p in theo]) for label in adapt(rec, who)[0].predict(who)]
    together = list(adapt(rec, test.paths)[0].predict(test.paths))
    assert apart != together  # (so that the check below tells the two apart)
    feats, speech, views = file_features(rec, test.paths, speech=True)
    report, hows = evaluate_adapted(rec, test, feats, speech, views, n_jobs=2)
    assert [h.n_inputs for h in hows] == [len(nicolas), len(theo)]
    assert report == evaluate_adapted(rec, test, feats, speech, views, n_jobs=1)[0]
    assert report["accuracy"] == pytest.approx(np.mean(np.array(apart) == np.array(test.y)))
    wrong = [(u.path, p) for u, p in zip(test, apart) if p != u.label]
    assert [(e["file"], e["predicted"]) for e in report["errors"]] == wrong

    manifest = tmp_path / "two.csv"
    manifest.write_text("path,label,speaker\n" + "".join(f"{u.path},{u.label},{u.speaker}\n" for u in test))
    model = rec.save(tmp_path / "two.model")
    assert main(["eval", str(model), str(manifest), "--adapt", "--json", str(tmp_path / "a.json")]) == 0
    assert "adapted to each of its 2 speakers" in capsys.readouterr().err
    written = json.loads((tmp_path / "a.json").read_text())
    assert written["adapted_voices"] == 2 and written["adapted_files_used"] == sum(h.n_used for h in hows)
    assert written["confusion"] == report["confusion"]


def test_crossval_adapt_gives_each_fold_the_report_of_eval_adapt(tmp_path, capsys):
    from hmmrec.corpus import leave_one_speaker_out, load_corpus

    rec_dir = shared_dataset("fsdd/recordings")
    files = [p for p in sorted(rec_dir.glob("*.wav"))
             if p.stem.split("_")[1] in ("george", "jackson", "nicolas") and int(p.stem.split("_")[2]) < 12]
    manifest = tmp_path / "three.csv"
    manifest.write_text("path,label,speaker\n" + "".join(f"{p},{p.stem.split('_')[0]},{p.stem.split('_')[1]}\n"
                                                          for p in files))
    fast = ["--mix", "2", "--speeds", "none", "--warps", "none", "--noise", "none", "--jobs", "1"]
    cv_json = tmp_path / "cv.json"
    assert main(["crossval", str(manifest), "--by", "speaker", "--adapt", "--json", str(cv_json), *fast]) == 0
    cv = json.loads(cv_json.read_text())
    assert cv["adapted"] and cv["folds"] != cv["not_adapted"]["folds"]  # adapting moved files
    # a fold by hand: its model trained and its test files evaluated with `eval --adapt`
    spk, train, test = next(f for f in leave_one_speaker_out(load_corpus(manifest)) if f[0] == "nicolas")
    (tmp_path / "train.csv").write_text("path,label,speaker\n" + "".join(f"{u.path},{u.label},{u.speaker}\n"
                                                                        for u in train))
    model = tmp_path / "fold.model"
    assert main(["train", str(tmp_path / "train.csv"), "-o", str(model), "-q", *fast]) == 0
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("path,label,speaker\n" + "".join(f"{u.path},{u.label},{u.speaker}\n" for u in test))
    assert main(["eval", str(model), str(test_csv), "--adapt", "--json", str(tmp_path / "e.json")]) == 0
    capsys.readouterr()
    by_eval = json.loads((tmp_path / "e.json").read_text())
    assert cv["folds"][spk] != cv["not_adapted"]["folds"][spk]
    assert by_eval["adapted_voices"] == 1 and 0 < by_eval["adapted_files_used"] <= len(test)
    assert {k: v for k, v in by_eval.items() if k not in ("model", "data", "adapted")} == cv["reports"][spk]


def test_a_stream_adapts_to_its_confident_events_and_starts_afresh(fruit_model):
    from hmmrec import StreamRecognizer, audio

    y, _ = audio.load(SOUNDS / "streams" / "stream1.wav", fruit_model.feature_config_.sr)
    trained = [m.means.copy() for m in fruit_model.stream_models_]
    stream = StreamRecognizer(fruit_model, adapt=True)
    events = [e for i in range(0, len(y), 1600) for e in stream.push(y[i:i + 1600])]
    adapter = stream.adapter
    assert events and 0 < adapter.n_events <= len(events)
    moved = [not np.array_equal(a.means, b) for a, b in zip(adapter.current.stream_models_, trained)]
    assert any(moved) and not moved[list(fruit_model.classes_).index("_silence_")]
    # the scorer scores with the adapted stream models; the recognizer itself is untouched
    k = next(i for i, m in enumerate(moved) if m)
    np.testing.assert_array_equal(stream.scorer.bank.params[k].means[1:-1, :adapter.current.stream_models_[k].n_mix],
                                  adapter.current.stream_models_[k].means)
    assert all(np.array_equal(m.means, t) for m, t in zip(fruit_model.stream_models_, trained))
    stream.flush()  # a new stream starts from the trained models
    assert adapter.n_events == 0 and adapter.current is fruit_model
    adapter.n_changes = 2  # (voices changed, and the last word too short to adapt to)
    stream.reset()  # a new session starts with the weak prior again
    assert adapter.n_changes == 0 and adapter.prior == adapter.tau
    np.testing.assert_array_equal(stream.scorer.bank.params[k].means[1:-1, :fruit_model.stream_models_[k].n_mix],
                                  trained[k])
    assert StreamRecognizer(fruit_model, adapt=False).adapter is None


def test_a_model_of_many_voices_checks_words_with_its_trained_models_while_it_adapts(fruit_model):
    """The stream models adapt either way; the word check adapts only for a model whose own
    keywords lead by more than the usual strict end (a model of a few voices)."""
    import copy

    from hmmrec import StreamRecognizer, audio
    from hmmrec.stream import STRICTEST_SCORE, strictest_score

    y, _ = audio.load(SOUNDS / "streams" / "stream1.wav", fruit_model.feature_config_.sr)
    x = fruit_model.features([sound_files("test", "kiwi", 1)[0]])[0]
    many = copy.copy(fruit_model)  # (the same models, as if trained on many voices)
    many.training_summary_ = dict(fruit_model.training_summary_, keyword_lead_p50=STRICTEST_SCORE - 1.0)
    few = copy.copy(fruit_model)
    few.training_summary_ = dict(fruit_model.training_summary_, keyword_lead_p50=STRICTEST_SCORE + 2.0)
    assert strictest_score(many) == STRICTEST_SCORE < strictest_score(few)

    def checked(rec):
        stream = StreamRecognizer(rec, adapt=True)
        for i in range(0, len(y), 1600):
            stream.push(y[i:i + 1600])
        adapted = stream.adapter.current
        assert adapted is not rec  # (the stream models moved: both streams adapt)
        return stream, stream.scorer.models.word_posterior(x), adapted

    stream, p, adapted = checked(many)
    assert not stream.check_adapts
    trained_p = fruit_model.recognize_features(x, unknown_bias=False).proba
    adapted_p = adapted.recognize_features(x, unknown_bias=False).proba
    assert not np.allclose(trained_p, adapted_p)  # (else the check below could not tell them apart)
    np.testing.assert_allclose(p, trained_p)
    stream, p, adapted = checked(few)
    assert stream.check_adapts
    np.testing.assert_allclose(p, adapted.recognize_features(x, unknown_bias=False).proba)


def test_a_word_the_adapted_models_fit_worse_starts_the_adapting_afresh(fruit_model):
    """A change of voice: when the models adapted so far fit an event's word worse than
    the trained ones, what they learnt is dropped and the event adapts the trained models."""
    import copy

    from hmmrec import audio
    from hmmrec.adapt import OnlineAdapter

    k = list(fruit_model.classes_).index("kiwi")
    sr = fruit_model.feature_config_.sr
    take = [fruit_model.features([audio.load(f, sr)[0]])[0] for f in sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))]
    fresh = OnlineAdapter(fruit_model)
    assert fresh.add(k, take[0]) and fresh.n_events == 1
    # an adapter that learnt another "voice": kiwi's means moved off (still kiwi, but a worse fit)
    other = OnlineAdapter(fruit_model)
    assert other.add(k, take[1])
    far = copy.copy(other.current)
    far.models_ = list(far.models_)
    far.models_[k] = replace(far.models_[k], means=far.models_[k].means + 0.4)
    far._bank = far._make_bank()
    other.current = far
    assert far.loglik_features(take[0])[k] < fruit_model.loglik_features(take[0])[k]
    assert other.add(k, take[0])
    # the earlier event is forgotten: the same as adapting to this one alone, with a
    # prior twice as strong (a session of two voices so far)
    assert other.n_events == 1 and other.n_changes == 1 and other.prior == 2 * fresh.prior
    cautious = OnlineAdapter(fruit_model, tau=2 * fresh.tau)
    assert cautious.add(k, take[0])
    np.testing.assert_allclose(other.current.models_[k].means, cautious.current.models_[k].means)
    np.testing.assert_allclose(other.current.stream_models_[k].means, cautious.current.stream_models_[k].means)
    moved = lambda a: np.abs(a.current.models_[k].means - fruit_model.models_[k].means).max()  # noqa: E731
    assert 0 < moved(other) < moved(fresh)
    # the same voice again: it keeps adapting; a new session starts with the weak prior
    assert other.add(k, take[0]) and other.n_events == 2 and other.n_changes == 1
    other.reset()
    assert other.n_changes == 0 and other.prior == fresh.prior and other.current is fruit_model


def test_a_stream_s_prior_is_weaker_than_a_folder_s_and_weighs_each_mean_against_it(fruit_model):
    """One event moves each mean to the MAP estimate with :data:`STREAM_TAU` frames of
    its trained value: a stream learns a voice from few words."""
    from hmmrec import audio
    from hmmrec.adapt import DEFAULT_TAU, STREAM_TAU, OnlineAdapter, _word_frames, map_means
    from hmmrec.discriminative import occupancy_stats

    assert STREAM_TAU < DEFAULT_TAU
    k = list(fruit_model.classes_).index("kiwi")
    sr = fruit_model.feature_config_.sr
    x = fruit_model.features([audio.load(sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))[0], sr)[0]])[0]
    adapter = OnlineAdapter(fruit_model)
    assert adapter.prior == STREAM_TAU and adapter.add(k, x)
    frames = _word_frames(fruit_model, x, k)
    occ, sum_x, _ = occupancy_stats(fruit_model.models_[k], [frames], np.ones(1))
    np.testing.assert_allclose(adapter.current.models_[k].means,
                               map_means(fruit_model.models_[k], occ, sum_x, STREAM_TAU).means)

"""The hmmrec command: train / eval / recognize / info / crossval, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hmmrec import HMMRecognizer
from hmmrec.cli import main

from helpers import REPO, SOUNDS, sound_files

CLI_LABELS = ["kiwi", "pineapple", "_silence_"]
FAST = ["--mix", "1", "--speeds", "none", "--warps", "none", "--noise", "none", "--jobs", "1"]


def copy_tree(dest: Path, split: str, n: int) -> Path:
    for label in CLI_LABELS:
        d = dest / label
        d.mkdir(parents=True)
        for f in sound_files(split, label, n):
            shutil.copy(f, d / f.name)
    return dest


# its own model: the output of the `hmmrec train` command under test (3 labels x 5 files), then evaluated
@pytest.fixture(scope="module")
def cli_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train = copy_tree(root / "train", "train", 5)
    test = copy_tree(root / "test", "test", 3)
    model = root / "fruit.model"
    rc = main(["train", str(train), "-o", str(model), "-q", "--filterbank-net", "on", *FAST])  # (both networks shown)
    assert rc == 0 and model.exists()
    return {"root": root, "train": train, "test": test, "model": model}


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hmmrec.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=120)


def assert_one_error_line(err: str, out: str = ""):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hmmrec: error: "), err
    assert "Traceback" not in err + out


# -- train ------------------------------------------------------------------------------------------
def test_train_writes_a_loadable_model(cli_data):
    rec = HMMRecognizer.load(cli_data["model"])
    assert list(rec.classes_) == sorted(CLI_LABELS)
    assert all(m.n_mix == 1 for m in rec.models_)
    assert rec.n_examples_ == {lab: 5 for lab in CLI_LABELS}
    assert rec.training_summary_["speeds"] == []


def test_train_refuses_to_overwrite_without_force(cli_data, tmp_path, capsys):
    model = tmp_path / "existing.model"
    shutil.copy(cli_data["model"], model)
    before = model.read_bytes()
    rc = main(["train", str(cli_data["train"]), "-o", str(model), "-q", *FAST])
    out, err = capsys.readouterr()
    assert rc == 1
    assert_one_error_line(err, out)
    assert "existing.model" in err and "--force" in err
    assert model.read_bytes() == before
    # a file that is not a model is protected just the same
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    assert main(["train", str(cli_data["train"]), "-o", str(notes), "-q", *FAST]) == 1
    assert notes.read_text() == "keep me"
    capsys.readouterr()


def test_train_force_replaces_and_prints_summary(cli_data, tmp_path, capsys):
    # trains its own: tests `train --force` and its output when stderr is not a terminal
    model = tmp_path / "m.model"
    model.write_bytes(b"old")
    rc = main(["train", str(cli_data["train"]), "-o", str(model), "--force", *FAST])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert list(HMMRecognizer.load(model).classes_) == sorted(CLI_LABELS)
    # not on a terminal: no progress at all, only the one summary line
    assert err == ""
    assert out.splitlines() == [out.strip()] and out.startswith(f"saved {model}: 3 labels, trained on 15 files in ")


def test_train_on_manifest(cli_data, tmp_path, capsys):
    # trains its own: tests `train` on a manifest with --states
    rows = ["path,label,speaker"]
    for label in ("kiwi", "_silence_"):
        for f in sorted((cli_data["train"] / label).glob("*.wav"))[:3]:
            rows.append(f"{f},{label},{f.stem.rsplit('_', 1)[0]}")
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(rows) + "\n")
    model = tmp_path / "m.model"
    assert main(["train", str(manifest), "-o", str(model), "-q", "--states", "4", "--net-weight", "0", *FAST]) == 0
    rec = HMMRecognizer.load(model)
    assert list(rec.classes_) == ["_silence_", "kiwi"]
    assert [m.n_states for m in rec.models_] == [4, 4]
    assert rec.frame_net_ is None and rec.net_weight == 0  # (--net-weight 0: no frame classifier)
    assert HMMRecognizer.load(cli_data["model"]).frame_net_.weight == 0.4
    one = tmp_path / "one.model"
    assert main(["train", str(manifest), "-o", str(one), "-q", "--states", "4", "--no-filterbank-net", *FAST]) == 0
    rec = HMMRecognizer.load(one)
    assert rec.frame_net_ is not None and rec.filterbank_net_ is None and not rec.filterbank_net
    two = tmp_path / "two.model"  # (a handful of speakers: "auto" would train one network)
    assert main(["train", str(manifest), "-o", str(two), "-q", "--states", "4", "--filterbank-net", "on", *FAST]) == 0
    rec = HMMRecognizer.load(two)
    assert rec.filterbank_net_ is not None and rec.filterbank_net is True
    capsys.readouterr()
    assert main(["train", str(manifest), "-o", str(tmp_path / "x.model"), "--net-weight", "2"]) == 2
    assert "--net-weight" in capsys.readouterr().err and not (tmp_path / "x.model").exists()


def test_train_with_own_recordings_counts_them_more(cli_data, tmp_path, capsys):
    """--own adds a speaker's recordings (new labels too), each counted --own-weight times."""
    # trains its own: tests `train --own --own-weight` (two weights compared)
    own = tmp_path / "mywords"
    for label, files in (("kiwi", sound_files("train", "kiwi")[5:7]), ("lime", sound_files("train", "lime", 3))):
        (own / label).mkdir(parents=True)
        for f in files:
            shutil.copy(f, own / label / f.name)
    models = {}
    for w in (1, 4):
        models[w] = tmp_path / f"own{w}.model"
        assert main(["train", str(cli_data["train"]), "--own", str(own), "--own-weight", str(w), "-o",
                     str(models[w]), "-q", *FAST]) == 0
        out = capsys.readouterr().out
        assert f"trained on 15 files and 5 of your own, each counted {w} times, in " in out
    rec = {w: HMMRecognizer.load(m) for w, m in models.items()}
    assert list(rec[4].classes_) == sorted(CLI_LABELS + ["lime"])
    assert rec[4].n_examples_ == {"kiwi": 7, "lime": 3, "pineapple": 5, "_silence_": 5}
    k = list(rec[4].classes_).index("kiwi")
    assert not np.allclose(rec[1].models_[k].means, rec[4].models_[k].means)


def test_train_own_errors(cli_data, tmp_path, capsys):
    assert main(["train", str(cli_data["train"]), "--own", str(tmp_path / "nowhere"), "-o",
                 str(tmp_path / "x.model"), *FAST]) == 1
    assert_one_error_line(capsys.readouterr().err)
    assert main(["train", str(cli_data["train"]), "--own", str(cli_data["train"]), "--own-weight", "0", "-o",
                 str(tmp_path / "x.model"), *FAST]) == 2
    assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x.model").exists()


# -- eval ---------------------------------------------------------------------------------------------
def test_eval_json_report(cli_data, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    rc = main(["eval", str(cli_data["model"]), str(cli_data["test"]), "--json", str(report_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    report = json.loads(report_path.read_text())
    assert {"accuracy", "n", "labels", "confusion"} <= set(report)
    assert report["n"] == 9
    assert report["labels"] == sorted(CLI_LABELS)
    cm = np.array(report["confusion"])
    assert cm.shape == (3, 3)
    # rows are true labels, columns predicted labels, in `labels` order
    rec = HMMRecognizer.load(cli_data["model"])
    files = [f for lab in report["labels"] for f in sorted((cli_data["test"] / lab).glob("*.wav"))]
    truth = [f.parent.name for f in files]
    pred = rec.predict([str(f) for f in files])
    expected = np.zeros((3, 3), int)
    for t, p in zip(truth, pred):
        expected[report["labels"].index(t), report["labels"].index(str(p))] += 1
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(cm.sum(1), [3, 3, 3])
    assert report["accuracy"] == pytest.approx(np.trace(cm) / 9)
    assert report["accuracy"] >= 2 / 3
    # the printed report says the same
    assert f"{report['accuracy']:.4f}" in out and "confusion matrix" in out
    # each speaker's files and accuracy (the speaker from the file name), hardest first
    from hmmrec.corpus import load_corpus

    corpus = load_corpus(cli_data["test"])
    wrong = {e["file"] for e in report["errors"]}
    by = {}
    for u in corpus:
        by.setdefault(u.speaker, []).append(u.path not in wrong)
    assert len(by) >= 2 and report["per_speaker"] == {
        spk: {"files": len(v), "accuracy": pytest.approx(np.mean(v))} for spk, v in by.items()}
    accs = [v["accuracy"] for v in report["per_speaker"].values()]
    assert accs == sorted(accs) and "by speaker" in out


def test_eval_refuses_to_overwrite_json(cli_data, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    report_path.write_text("{}")
    rc = main(["eval", str(cli_data["model"]), str(cli_data["test"]), "--json", str(report_path)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert_one_error_line(err, out)
    assert report_path.read_text() == "{}"
    assert main(["eval", str(cli_data["model"]), str(cli_data["test"]), "--json", str(report_path), "--force"]) == 0
    assert json.loads(report_path.read_text())["n"] == 9
    capsys.readouterr()


def test_eval_scores_words_the_model_does_not_know_as_unknown(cli_data, tmp_path, capsys):
    """A word the model was not trained on is right when the model answers _unknown_ (the
    keyword-recognition protocol); a non-word label it lacks is counted, always wrong."""
    train = tmp_path / "train"
    for label, src, n in (("kiwi", "kiwi", 5), ("_unknown_", "apple", 5), ("_silence_", "_silence_", 5)):
        (train / label).mkdir(parents=True)
        for f in sound_files("train", src, n):
            shutil.copy(f, train / label / f.name)
    test = tmp_path / "test"
    for label, src, n in (("kiwi", "kiwi", 3), ("banana", "banana", 3), ("_noise_", "_silence_", 2)):
        (test / label).mkdir(parents=True)
        for f in sound_files("test", src, n):
            shutil.copy(f, test / label / f.name)
    model, report_path = tmp_path / "u.model", tmp_path / "r.json"
    assert main(["train", str(train), "-o", str(model), "-q", *FAST]) == 0
    assert main(["eval", str(model), str(test), "-q", "--json", str(report_path)]) == 0
    out, _ = capsys.readouterr()
    report = json.loads(report_path.read_text())
    assert report["scored_as_unknown"] == {"banana": 3} and report["never_right"] == {"_noise_": 2}
    assert report["labels"] == ["_noise_", "_silence_", "_unknown_", "kiwi"]
    rec = HMMRecognizer.load(model)
    said = [str(p) for p in rec.predict([str(f) for f in sorted((test / "banana").glob("*.wav"))])]
    row = np.array(report["confusion"])[report["labels"].index("_unknown_")]
    assert row.tolist() == [said.count(lab) for lab in report["labels"]]
    assert report["per_label"]["_noise_"]["recall"] == 0 and report["per_label"]["_noise_"]["support"] == 2
    assert "scored as _unknown_ (words the model does not know): banana (3)" in out
    assert "never right (labels the model does not have): _noise_ (2)" in out
    # a model without _unknown_ on data none of whose labels it has: an error, not a report of 0
    only_banana = tmp_path / "bananas"
    shutil.copytree(test / "banana", only_banana / "banana")
    rc = main(["eval", str(cli_data["model"]), str(only_banana)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert_one_error_line(err, out)
    assert "none of its labels (banana)" in err and "no _unknown_" in err


# -- recognize ---------------------------------------------------------------------------------------
def test_recognize_prints_the_label(cli_data, capsys):
    files = [sorted((cli_data["test"] / lab).glob("*.wav"))[0] for lab in CLI_LABELS]
    rc = main(["recognize", str(cli_data["model"]), *map(str, files)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    pred = HMMRecognizer.load(cli_data["model"]).predict([str(f) for f in files])
    for f, p in zip(files, pred):
        line = next(ln for ln in out.splitlines() if ln.startswith(f"{f}:"))
        assert line.split(":", 1)[1].split()[0] == p
    for lab in CLI_LABELS:  # per-label scores
        assert out.count(f"    {lab} ") == len(files)


def test_recognize_json(cli_data, capsys):
    f = sorted((cli_data["test"] / "kiwi").glob("*.wav"))[0]
    assert main(["recognize", str(cli_data["model"]), str(f), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out.strip())
    assert obj["file"] == str(f)
    assert obj["label"] == max(obj["scores"], key=obj["scores"].get)
    assert set(obj["proba"]) == set(CLI_LABELS)
    assert sum(obj["proba"].values()) == pytest.approx(1.0, abs=1e-3)
    # the stream's verdict on the same recording
    from hmmrec import HMMRecognizer
    from hmmrec.stream import judge_recording

    v = judge_recording(HMMRecognizer.load(cli_data["model"]), f)
    assert obj["accepted"] is v.accepted and obj["rejected_because"] == (v.rejected_because or None)
    silence = sorted((cli_data["test"] / "_silence_").glob("*.wav"))
    assert silence
    assert main(["recognize", str(cli_data["model"]), str(silence[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] is False


def test_recognize_bad_file_among_good_ones(cli_data, tmp_path, capsys):
    good = sorted((cli_data["test"] / "pineapple").glob("*.wav"))[0]
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    rc = main(["recognize", str(cli_data["model"]), str(bad), str(good)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert_one_error_line(err, out)
    assert "notes.wav" in err
    assert f"{good}:" in out  # the good file is still recognised


# -- info / crossval ---------------------------------------------------------------------------------
def test_info(cli_data, capsys):
    assert main(["info", str(cli_data["model"])]) == 0
    out = capsys.readouterr().out
    assert "3 labels" in out and "39-dim at 16000 Hz" in out
    for lab in CLI_LABELS:
        assert lab in out
    # the whole label says how much speech rules it out; words (all spoken) that no speech does
    from hmmrec.speech import MARGIN_S

    rec = HMMRecognizer.load(cli_data["model"])
    *labels, nets, first, second, streaming = out.splitlines()[1:]
    lead = rec.training_summary_["keyword_lead_p50"]
    assert streaming == (f"  streaming: a word needs a score of {max(3.0, lead):.2f} at sensitivity 0 (the higher of "
                         f"3.00 and its training keywords' median lead, {lead:.2f}), 1.75 at the default 0.5, 0.50 at 1")
    assert nets == "  40% of each file's scores from two frame classifiers:"
    assert first == f"    frame classifier of the cepstra: {rec.bank.n_emissions} states, 15 frames in, hidden layers 256 x 256"
    assert second == (f"    frame classifier of a log mel filterbank: {rec.bank.n_emissions} states, 15 frames in, "
                      "hidden layers 256 x 256")
    for line in labels:
        lab = line.split()[0]
        if lab in rec.speech_limits_:
            assert line.endswith(f"not for a file with over {rec.speech_limits_[lab] + MARGIN_S:.2f} s of speech")
        else:
            assert rec.no_speech_share_[lab] == 0.0 and line.endswith("not for a file without speech")
    assert rec.speech_limits_


def test_crossval_by_take(cli_data, tmp_path, capsys):
    # trains its own: crossval trains a model per fold
    report = tmp_path / "cv.json"
    rc = main(["crossval", str(cli_data["train"]), "--by", "take", "--test-takes", "2", "--json", str(report), *FAST])
    out, err = capsys.readouterr()
    assert rc == 0, err
    data = json.loads(report.read_text())
    assert data["by"] == "take" and list(data["folds"]) == ["takes<2"]
    fold = data["reports"]["takes<2"]
    assert fold["n"] == sum(1 for f in cli_data["train"].rglob("*_1.wav"))  # take 1 is test
    assert "mean accuracy" in out


def test_crossval_adapt_reports_each_fold_adapted_and_not(cli_data, tmp_path, capsys):
    # (that a fold's adapted report is eval --adapt's: tests/test_adapt.py, on real voices, where adapting moves files)
    args = ["crossval", str(cli_data["train"]), "--by", "take", "--test-takes", "2", *FAST]
    assert main([*args, "--json", str(tmp_path / "plain.json")]) == 0
    assert main([*args, "--adapt", "--json", str(tmp_path / "adapted.json")]) == 0
    out = capsys.readouterr().out
    assert "not adapted) (" in out
    assert "mean accuracy adapted" in out and "not adapted: mean" in out
    plain, adapted = (json.loads((tmp_path / f).read_text()) for f in ("plain.json", "adapted.json"))
    assert not plain["adapted"] and adapted["adapted"] and adapted["not_adapted"]["folds"] == plain["folds"]


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["missing_data", "split_folders", "one_label", "missing_output_folder",
                                  "eval_missing_model", "eval_non_model", "eval_missing_data", "recognize_non_audio",
                                  "recognize_missing", "info_non_model"])
def test_bad_input_exit_1_with_one_line(cli_data, tmp_path, capsys, case):
    not_model = tmp_path / "not_a_model.model"
    not_model.write_text("just text")
    not_audio = tmp_path / "not_audio.wav"
    not_audio.write_bytes(b"\x00\x01garbage" * 10)
    one_label = tmp_path / "one"
    (one_label / "kiwi").mkdir(parents=True)
    shutil.copy(sound_files("train", "kiwi", 1)[0], one_label / "kiwi")
    model = str(cli_data["model"])
    argv = {
        "missing_data": ["train", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m.model")],
        "split_folders": ["train", str(SOUNDS), "-o", str(tmp_path / "m.model")],
        "one_label": ["train", str(one_label), "-o", str(tmp_path / "m.model")],
        "missing_output_folder": ["train", str(cli_data["train"]), "-o", str(tmp_path / "no" / "m.model")],
        "eval_missing_model": ["eval", str(tmp_path / "missing.model"), str(cli_data["test"])],
        "eval_non_model": ["eval", str(not_model), str(cli_data["test"])],
        "eval_missing_data": ["eval", model, str(tmp_path / "nowhere")],
        "recognize_non_audio": ["recognize", model, str(not_audio)],
        "recognize_missing": ["recognize", model, str(tmp_path / "missing.wav")],
        "info_non_model": ["info", str(not_model)],
    }[case]
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 1, (out, err)
    assert_one_error_line(err, out)
    assert not (tmp_path / "m.model").exists()
    if case == "split_folders":
        assert "subfolders are labels" in err


@pytest.mark.parametrize("argv", [
    ["train"],                              # missing DATA and -o
    ["train", "data"],                      # missing -o
    ["train", "data", "-o", "m", "--mix", "0"],
    ["train", "data", "-o", "m", "--mix", "two"],
    ["train", "data", "-o", "m", "--states", "-3"],
    ["train", "data", "-o", "m", "--speeds", "fast"],
    ["eval", "model.model"],
    ["recognize", "model.model"],
    ["frobnicate"],
    ["train", "data", "-o", "m", "--bogus"],
])
def test_usage_errors_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert_one_error_line(err, out)
    assert not (tmp_path / "m").exists()


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert "usage" in err.lower() and "Traceback" not in err


# -- as a real process ------------------------------------------------------------------------------------
def test_module_entry_point_recognize(cli_data):
    f = sorted((cli_data["test"] / "kiwi").glob("*.wav"))[0]
    proc = run_cli("recognize", cli_data["model"], f)
    assert proc.returncode == 0, proc.stderr
    expected = HMMRecognizer.load(cli_data["model"]).predict([str(f)])[0]
    assert proc.stdout.startswith(f"{f}: {expected} ")


@pytest.mark.parametrize("args, code", [
    (["eval", "{not_model}", "{test}"], 1),
])
def test_module_entry_point_errors(cli_data, tmp_path, args, code):
    not_model = tmp_path / "junk.model"
    not_model.write_bytes(b"\x80\x04junk")
    args = [a.format(not_model=not_model, test=cli_data["test"], root=tmp_path) for a in args]
    proc = run_cli(*args)
    assert proc.returncode == code
    assert_one_error_line(proc.stderr, proc.stdout)
    assert not (tmp_path / "x.model").exists()

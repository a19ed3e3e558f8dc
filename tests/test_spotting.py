"""Keyword spotting scored against a truth list: hmmrec.spotting and ``hmmrec kws``."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from hmmrec.cli import main
from hmmrec.errors import DataError, ParameterError
from hmmrec.spotting import TruthWord, match_events, read_truth, score_events, sweep, sweep_many, truth_beside
from hmmrec.stream import stream_file

from helpers import SOUNDS

STREAM = SOUNDS / "streams" / "stream2.wav"  # holds words that are not keywords too (_unknown_ rows)


def test_read_truth_of_a_shipped_stream():
    words = read_truth(STREAM.with_suffix(".csv"))
    lines = STREAM.with_suffix(".csv").read_text().strip().splitlines()
    assert len(words) == len(lines) - 1
    assert words[0] == TruthWord("_unknown_", 1.0, 1.51)
    assert all(0 <= w.start <= w.end for w in words)
    assert truth_beside(STREAM) == STREAM.with_suffix(".csv")


@pytest.mark.parametrize("text, says", [
    ("label,begin,end\nyes,1,2\n", "needs columns label,start,end (missing start)"),
    ("label,start,end\nyes,one,2\n", ":2: start and end must be seconds"),
    ("label,start,end\nyes,1,2\nno,3,2.5\n", ":3: need a label and 0 <= start <= end"),
    ("label,start,end\nyes,-1,2\n", ":2: need a label"),
    ("label,start,end\n,1,2\n", ":2: need a label"),
    ("label,start,end\nyes,nan,2\n", ":2: need a label"),
])
def test_bad_truth_lists_say_where(tmp_path, text, says):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=re.escape(says)):
        read_truth(p)


def test_unreadable_truth_lists(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_truth(tmp_path / "missing.csv")
    p = tmp_path / "latin1.csv"
    p.write_bytes("label,start,end\ncaf\xe9,1,2\n".encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 CSV"):
        read_truth(p)
    assert truth_beside(tmp_path / "talk.wav") is None


def test_scoring_hits_misses_false_alarms_and_latency():
    truth = [TruthWord("yes", 1.0, 1.5), TruthWord("no", 3.0, 3.4), TruthWord("_unknown_", 5.0, 5.5),
             TruthWord("yes", 7.0, 7.5)]
    events = [("yes", 1.1, 1.4, 1.7),  # a hit, 0.2 s after the word
              ("yes", 1.2, 1.45, 1.8),  # the same word again: a false alarm
              ("up", 3.0, 3.3, 3.6),  # "no" heard as "up": a false alarm, and "no" is missed
              ("no", 5.0, 5.3, 5.6),  # a word that is not a keyword: a false alarm
              ("yes", 7.2, 7.6, 7.9)]  # a hit, 0.4 s after
    assert match_events(events, [t for t in truth if t.label != "_unknown_"]) == [0, None, None, None, 2]
    r = score_events(events, truth, duration_s=1800)
    assert (r["keywords"], r["hits"], r["misses"], r["false_alarms"]) == (3, 2, 1, 3)
    assert r["miss_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert r["false_alarms_per_hour"] == 6.0 and r["false_alarms_per_keyword_hour"] == 3.0  # two kinds: yes, no
    assert r["latency_p50_s"] == pytest.approx(0.3) and r["latency_p95_s"] == pytest.approx(0.39)
    # only the model's keywords are to be found: "no" is then a word to ignore
    r = score_events(events, truth, 1800, keywords_of=["yes", "up"])
    assert (r["keywords"], r["misses"], r["false_alarms"]) == (2, 0, 3)
    # nothing to find: no miss rate, but false alarms still count
    r = score_events(events[:1], [], 3600)
    assert r["miss_rate"] is None and r["false_alarms"] == 1 and r["latency_p95_s"] is None
    with pytest.raises(ParameterError):
        score_events([], truth, 0)


def test_the_curve_is_the_streams_at_each_sensitivity(fruit_model):
    truth = read_truth(STREAM.with_suffix(".csv"))
    result = sweep(fruit_model, STREAM, truth, [0.2, 0.8])
    keywords = {str(c) for c, k in zip(fruit_model.classes_, fruit_model.keyword_mask_) if k}
    assert result["keywords"] == sum(t.label in keywords for t in truth) > 0
    assert sum(result["ignored"].values()) == len(truth) - result["keywords"]
    assert "_unknown_" in result["ignored"]
    for row in result["rows"]:
        events = list(stream_file(fruit_model, STREAM, sensitivity=row["sensitivity"]))
        assert row == {"sensitivity": row["sensitivity"],
                       **score_events(events, truth, result["duration_s"], keywords_of=keywords)}
    assert result["rows"][1]["hits"] >= result["rows"][0]["hits"]  # more sensitive, never fewer found
    ok = [r for r in result["rows"] if r["false_alarms_per_hour"] <= 1.0]
    assert result["best"] == (min(ok, key=lambda r: r["miss_rate"]) if ok else None)
    with pytest.raises(ParameterError):
        sweep(fruit_model, STREAM, truth, [1.5])


def test_an_adapting_curve_is_the_adapting_streams_at_each_sensitivity(fruit_model, fruit_model_path, tmp_path,
                                                                         monkeypatch, capsys):
    from hmmrec.adapt import OnlineAdapter

    truth = read_truth(STREAM.with_suffix(".csv"))
    added = []
    real_add = OnlineAdapter.add
    monkeypatch.setattr(OnlineAdapter, "add", lambda self, *a, **k: added.append(a) or real_add(self, *a, **k))
    result = sweep(fruit_model, STREAM, truth, [0.2, 0.8], adapt=True)
    assert result["adapted"] and added  # its events adapted the models
    keywords = [str(c) for c in fruit_model.classes_]
    for row in result["rows"]:
        events = list(stream_file(fruit_model, STREAM, sensitivity=row["sensitivity"], adapt=True))
        assert row == {"sensitivity": row["sensitivity"],
                       **score_events(events, truth, result["duration_s"], keywords_of=keywords)}
    added.clear()
    assert not sweep(fruit_model, STREAM, truth, [0.2, 0.8])["adapted"] and not added
    # the command
    report = tmp_path / "adapting.json"
    assert main(["kws", str(fruit_model_path), str(STREAM), "--sensitivities", "0.2,0.8", "--adapt",
                 "--json", str(report), "-q"]) == 0
    assert "adapting to each recording's voice" in capsys.readouterr().out
    saved = json.loads(report.read_text())
    assert saved["adapted"] and saved["rows"] == result["rows"]


def test_a_curve_over_several_recordings_counts_them_all(fruit_model, tmp_path, capsys):
    streams = sorted((SOUNDS / "streams").glob("*.wav"))
    items = [(p, read_truth(p.with_suffix(".csv"))) for p in streams]
    one = [sweep(fruit_model, p, t, [0.5])["rows"][0] for p, t in items]
    both = sweep_many(fruit_model, items, [0.5])
    row = both["rows"][0]
    for key in ("keywords", "hits", "misses", "false_alarms"):
        assert row[key] == sum(r[key] for r in one), key
    assert both["recordings"] == 2
    assert both["duration_s"] == pytest.approx(sum(sweep(fruit_model, p, t, [0.5])["duration_s"] for p, t in items))
    # the command: each recording's truth list beside it; --truth only for one
    report = tmp_path / "r.json"
    model = tmp_path / "m.model"
    fruit_model.save(model)
    assert main(["kws", str(model), *map(str, streams), "--sensitivities", "0.5", "--json", str(report), "-q"]) == 0
    assert json.loads(report.read_text())["rows"] == both["rows"]
    assert "2 recordings:" in capsys.readouterr().out
    assert main(["kws", str(model), *map(str, streams), "--truth", str(streams[0].with_suffix(".csv")), "-q"]) == 1
    assert "--truth" in capsys.readouterr().err


def test_kws_takes_folders_of_recordings_with_their_truth_lists(fruit_model, fruit_model_path, tmp_path, capsys):
    streams = sorted((SOUNDS / "streams").glob("*.wav"))
    folder = tmp_path / "talks"
    folder.mkdir()
    for p in streams:
        shutil.copy(p, folder / p.name)
        shutil.copy(p.with_suffix(".csv"), folder / p.with_suffix(".csv").name)
    shutil.copy(streams[0], folder / "untold.wav")  # no truth list: left out, and said so
    report = tmp_path / "folder.json"
    assert main(["kws", str(fruit_model_path), str(folder), "--sensitivities", "0.5", "--json", str(report), "-q"]) == 0
    out, err = capsys.readouterr()
    assert "2 recordings:" in out and "left out 1 recording without a truth list (untold.wav)" in err
    result = json.loads(report.read_text())
    assert result["files"] == [str(folder / p.name) for p in streams]
    items = [(p, read_truth(p.with_suffix(".csv"))) for p in streams]
    assert result["rows"] == sweep_many(fruit_model, items, [0.5])["rows"]
    # a folder with no recording that has a truth list: one line, nothing scored
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(streams[0], bare / "a.wav")
    assert main(["kws", str(fruit_model_path), str(bare), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hmmrec: error: ") and err.count("\n") == 1 and "truth list" in err


def test_kws_command(fruit_model_path, tmp_path, capsys):
    report = tmp_path / "curve.json"
    rc = main(["kws", str(fruit_model_path), str(STREAM), "--sensitivities", "0.5,0.2", "--json", str(report), "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    result = json.loads(report.read_text())
    assert [r["sensitivity"] for r in result["rows"]] == [0.2, 0.5]
    assert result["truth"] == [str(STREAM.with_suffix(".csv"))]  # found beside the recording
    assert f"{result['keywords']} keywords to find" in out and "_unknown_ (2)" in out
    for r in result["rows"]:
        assert f"{r['misses']}/{result['keywords']} ({r['miss_rate']:.3f})" in out
    # a truth list without any of the model's keywords: only false alarms can be counted
    none = tmp_path / "none.csv"
    none.write_text("label,start,end\n_unknown_,1.0,1.5\n")
    assert main(["kws", str(fruit_model_path), str(STREAM), "--truth", str(none), "--sensitivities", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert "0 keywords to find" in out and "only false alarms are counted" in out
    # an existing report is kept
    assert main(["kws", str(fruit_model_path), str(STREAM), "--json", str(report), "-q"]) == 1
    assert json.loads(report.read_text()) == result
    capsys.readouterr()


def test_kws_command_errors(fruit_model_path, tmp_path, capsys):
    alone = tmp_path / "alone.wav"
    shutil.copy(STREAM, alone)
    assert main(["kws", str(fruit_model_path), str(alone), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hmmrec: error: ") and err.count("\n") == 1 and "--truth" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("label,start,end\nkiwi,2,1\n")
    assert main(["kws", str(fruit_model_path), str(alone), "--truth", str(bad), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv:2:" in err
    assert main(["kws", str(fruit_model_path), str(alone), "--sensitivities", "0.5,2"]) == 2  # a usage error
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sensitivities" in err and "between 0 and 1" in err

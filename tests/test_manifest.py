"""hmmrec manifest: labels from file names (FSDD's flat folder), and train/test manifests by a rule."""

from __future__ import annotations

import csv
import shutil

import pytest

from hmmrec.cli import main
from hmmrec.corpus import load_corpus
from hmmrec.errors import DataError, ParameterError
from hmmrec.manifest import rows_from_pattern, split_rows, write_manifest

from helpers import shared_dataset


def _touch_wavs(root, names, source):
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, p)


@pytest.fixture
def wav(tmp_path):
    from hmmrec import audio
    import numpy as np

    return audio.write_wav(tmp_path / "src.wav", 0.1 * np.sin(np.arange(4000) / 3.0), 8000)


def test_patterns_fields_wildcards_and_folders(tmp_path, wav):
    root = tmp_path / "data"
    _touch_wavs(root, ["a/yes_ann_0.wav", "a/yes_bob_1.flac", "b/c/no_ann_2.wav", "no_x_notatake.wav", "notes_1.txt"],
                wav)
    rows = rows_from_pattern(root, "**/{label}_{speaker}_{take}.*")
    assert [(r.label, r.fields["speaker"], r.fields["take"]) for r in rows] == [
        ("yes", "ann", "0"), ("yes", "bob", "1"), ("no", "ann", "2")]  # "notatake" is no take; .txt is no audio
    assert [r.label for r in rows_from_pattern(root, "{speaker}/{label}_*.wav")] == ["yes"]
    with pytest.raises(ParameterError, match="no {label}"):
        rows_from_pattern(root, "{word}_{speaker}.wav")
    with pytest.raises(ParameterError, match="twice"):
        rows_from_pattern(root, "{label}_{label}.wav")
    with pytest.raises(DataError, match="no audio file below it matches"):
        rows_from_pattern(root, "{label}.mp3")


def test_manifest_paths_below_its_folder_are_relative_and_load(tmp_path, wav):
    root = tmp_path / "data"
    _touch_wavs(root, ["yes_ann_0.wav", "no_bob_3.wav"], wav)
    out = write_manifest(root / "m.csv", rows_from_pattern(root, "{label}_{speaker}_{take}.wav"))
    with open(out, newline="") as fh:
        table = list(csv.reader(fh))
    assert table == [["path", "label", "speaker", "take"], ["no_bob_3.wav", "no", "bob", "3"],
                     ["yes_ann_0.wav", "yes", "ann", "0"]]
    corpus = load_corpus(out)
    assert corpus.labels == ["no", "yes"] and corpus.speakers == ["ann", "bob"] and [u.take for u in corpus] == [3, 0]
    with pytest.raises(DataError, match="already exists"):
        write_manifest(out, rows_from_pattern(root, "{label}_*.wav"))


def test_the_tree_error_points_to_manifests(tmp_path, wav):
    _touch_wavs(tmp_path / "flat", ["0_ann_0.wav"], wav)
    with pytest.raises(DataError, match="hmmrec manifest"):
        load_corpus(tmp_path / "flat")


def test_fsdd_flat_folder_to_train_and_test_manifests():
    rows = rows_from_pattern(shared_dataset("fsdd/recordings"), "{label}_{speaker}_{take}.wav")
    assert len(rows) == 3000 and {r.label for r in rows} == set("0123456789")
    train, test = split_rows(rows, test_takes=5)
    assert (len(train), len(test)) == (2700, 300) and all(int(r.fields["take"]) < 5 for r in test)
    train, test = split_rows(rows, test_speakers=["nicolas"])
    assert {r.fields["speaker"] for r in test} == {"nicolas"} and len(test) == 500
    with pytest.raises(ParameterError, match="speaker"):
        split_rows(rows, test_speakers=["nobody"])
    with pytest.raises(ParameterError):
        split_rows(rows)


def test_three_commands_from_a_flat_folder_to_an_evaluation(tmp_path, capsys):
    """manifest, train, eval: FSDD's layout (two speakers, takes 0-9 of each digit)."""
    flat = tmp_path / "recordings"
    flat.mkdir()
    for f in shared_dataset("fsdd/recordings").glob("*.wav"):
        digit, speaker, take = f.stem.split("_")
        if speaker in ("jackson", "theo") and int(take) < 10:
            shutil.copyfile(f, flat / f.name)
    data = tmp_path / "fsdd.csv"
    assert main(["manifest", str(flat), "--pattern", "{label}_{speaker}_{take}.wav", "-o", str(data),
                 "--test-takes", "3"]) == 0
    out = capsys.readouterr().out
    assert "200 files, 10 labels, 2 speakers" in out and "fsdd.train.csv: 140 files" in out
    assert main(["train", str(tmp_path / "fsdd.train.csv"), "-o", str(tmp_path / "d.model"), "-q"]) == 0
    assert main(["eval", str(tmp_path / "d.model"), str(tmp_path / "fsdd.test.csv")]) == 0
    accuracy = float(next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("accuracy")).split()[1])
    assert accuracy >= 0.8
    # existing manifests are not overwritten, not even partly
    before = data.read_bytes()
    (tmp_path / "fsdd.test.csv").unlink()
    assert main(["manifest", str(flat), "--pattern", "{label}_{speaker}_{take}.wav", "-o", str(data),
                 "--test-takes", "3"]) == 1
    assert "already exists" in capsys.readouterr().err and data.read_bytes() == before
    assert not (tmp_path / "fsdd.test.csv").exists()

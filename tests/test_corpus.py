"""hmmrec.corpus: folder trees, manifests, speakers and takes, splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hmmrec.labels import is_keyword
from hmmrec.corpus import (Corpus, Utterance, kfold, leave_one_speaker_out, load_corpus, split_by_speaker,
                           split_by_take)
from hmmrec.errors import DataError, ParameterError

from helpers import FRUIT_LABELS, SOUNDS


def touch_tree(root: Path, layout: dict[str, list[str]]) -> Path:
    """Create ``root/<label>/<name>`` files (content is irrelevant: the corpus does not read audio)."""
    for label, names in layout.items():
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for name in names:
            (d / name).write_bytes(b"RIFF")
    return root


def synthetic_corpus(labels=("a", "b", "c"), speakers=("s1", "s2", "s3", "s4", "s5"), takes=4) -> Corpus:
    return Corpus(Utterance(f"/x/{lab}/{lab}_{spk}_{t}.wav", lab, spk, t)
                  for lab in labels for spk in speakers for t in range(takes))


# -- labels, speakers, takes --------------------------------------------------------------------
@pytest.mark.parametrize("label, name, speaker, take", [
    ("apple", "apple_en-us_m2_1.wav", "en-us_m2", 1),
    ("pineapple", "pineapple_en-gb-x-rp_f4_2.wav", "en-gb-x-rp_f4", 2),
    ("_silence_", "_silence__en-029_f1_1.wav", "en-029_f1", 1),
    ("7", "7_jackson_32.wav", "jackson", 32),
    ("seven", "7_jackson_32.wav", "jackson", 32),
    ("backward", "backward_0cb74144_nohash_2.wav", "0cb74144", 2),
    ("yes", "0cb74144_nohash_2.wav", "0cb74144", 2),
    ("yes", "0cb74144_nohash_0.WAV", "0cb74144", 0),
    ("x", "take3.wav", None, 3),
    ("x", "noise.wav", None, None),
])
def test_speaker_and_take_from_file_names(tmp_path, label, name, speaker, take):
    touch_tree(tmp_path, {label: [name], "other": ["o_1.wav"]})
    corpus = load_corpus(tmp_path)
    (u,) = [u for u in corpus if u.label == label]
    assert Path(u.path) == tmp_path / label / name
    assert (u.speaker, u.take) == (speaker, take)


def test_folder_tree_labels_and_files(tmp_path):
    touch_tree(tmp_path, {"yes": ["3e2f1a0b_nohash_0.wav", "0cb74144_nohash_1.wav", "notes.txt"],
                          "no": ["0cb74144_nohash_0.wav", "1bcd2345_nohash_0.wave"],
                          "_background_": ["noise_1.wav"]})
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README.md").write_text("not a label")
    corpus = load_corpus(tmp_path)
    assert corpus.labels == ["_background_", "no", "yes"]
    assert corpus.counts() == {"_background_": 1, "no": 2, "yes": 2}  # notes.txt is not audio
    assert len(corpus) == len(corpus.paths) == len(corpus.y) == 5
    assert all(Path(p).exists() for p in corpus.paths)
    assert corpus.speakers == ["0cb74144", "1bcd2345", "3e2f1a0b"]
    assert not is_keyword("_background_") and is_keyword("yes")


def test_shipped_sounds_train_tree():
    corpus = load_corpus(SOUNDS / "train")
    assert corpus.labels == sorted(FRUIT_LABELS)
    assert set(corpus.counts().values()) == {18}
    assert all(u.speaker and u.take in (1, 2) for u in corpus)
    assert len(corpus.speakers) == 9
    test = load_corpus(SOUNDS / "test")
    assert not set(corpus.speakers) & set(test.speakers), "sounds/ train and test are speaker-disjoint"
    # a speaker's _silence_ clips are tagged with the speaker too
    assert {u.speaker for u in corpus if u.label == "_silence_"} == set(corpus.speakers)


def test_folder_of_split_folders_is_rejected_naming_a_subfolder():
    with pytest.raises(DataError) as exc:
        load_corpus(SOUNDS)
    msg = str(exc.value)
    assert "test/" in msg or "train/" in msg
    assert "subfolders are labels" in msg


def test_empty_label_folder_is_rejected(tmp_path):
    touch_tree(tmp_path, {"yes": ["a_1.wav"]})
    (tmp_path / "no").mkdir()
    with pytest.raises(DataError, match="no/"):
        load_corpus(tmp_path)


def test_folder_without_label_folders_is_rejected(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    with pytest.raises(DataError):
        load_corpus(tmp_path)


def test_missing_path_is_rejected(tmp_path):
    with pytest.raises(DataError, match="does_not_exist"):
        load_corpus(tmp_path / "does_not_exist")


# -- manifests ------------------------------------------------------------------------------------------
def test_manifest_relative_paths_and_speaker(tmp_path):
    sub = tmp_path / "lists"
    sub.mkdir()
    manifest = sub / "m.csv"
    manifest.write_text("path,label,speaker\n"
                        "../audio/one_1.wav,yes,alice\n"
                        "clips/two_2.wav,no,bob\n"
                        f"{tmp_path / 'abs' / 'three_3.wav'},yes,\n", encoding="utf-8")
    corpus = load_corpus(manifest)
    assert [Path(p).resolve() for p in corpus.paths] == [
        (tmp_path / "audio" / "one_1.wav").resolve(),
        (sub / "clips" / "two_2.wav").resolve(),
        (tmp_path / "abs" / "three_3.wav").resolve(),
    ]
    assert corpus.y == ["yes", "no", "yes"]
    assert [u.speaker for u in corpus] == ["alice", "bob", None]
    assert [u.take for u in corpus] == [1, 2, 3]
    assert corpus.labels == ["no", "yes"]


def test_manifest_columns_in_any_order_without_speaker(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("label,path\nyes,a.wav\n")
    (u,) = load_corpus(manifest)
    assert u.label == "yes" and Path(u.path) == tmp_path / "a.wav" and u.speaker is None


@pytest.mark.parametrize("text, missing", [
    ("file,label\na.wav,yes\n", "path"),
    ("path,class\na.wav,yes\n", "label"),
    ("path\na.wav\n", "label"),
    ("", "path"),
])
def test_manifest_missing_columns(tmp_path, text, missing):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(DataError, match=missing):
        load_corpus(manifest)


@pytest.mark.parametrize("text", ["path,label\n", "path,label\na.wav,\n", "path,label\n,yes\n"])
def test_manifest_empty_or_incomplete_rows(tmp_path, text):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(DataError, match="m.csv"):
        load_corpus(manifest)


def test_binary_file_as_manifest_is_rejected(tmp_path):
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\xbb\xff\xfe")
    with pytest.raises(DataError, match="clip.wav"):
        load_corpus(wav)


def test_manifest_with_utf8_bom(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes("path,label\na.wav,yes\n".encode("utf-8-sig"))
    (u,) = load_corpus(manifest)
    assert u.label == "yes"


# -- splits ----------------------------------------------------------------------------------------------
def test_split_by_speaker_is_disjoint_and_complete():
    corpus = synthetic_corpus(speakers=[f"s{i}" for i in range(8)])
    for seed in range(5):
        train, test = split_by_speaker(corpus, test_size=0.25, seed=seed)
        tr_spk, te_spk = {u.speaker for u in train}, {u.speaker for u in test}
        assert not tr_spk & te_spk
        assert len(te_spk) == 2 and len(tr_spk) == 6
        assert sorted(train + test, key=lambda u: u.path) == sorted(corpus, key=lambda u: u.path)
    # deterministic per seed, different across seeds
    assert split_by_speaker(corpus, seed=1) == split_by_speaker(corpus, seed=1)
    assert len({frozenset(u.speaker for u in split_by_speaker(corpus, seed=s)[1]) for s in range(10)}) > 1


def test_split_by_speaker_on_shipped_sounds():
    corpus = load_corpus(SOUNDS / "train")
    train, test = split_by_speaker(corpus, test_size=0.3, seed=0)
    assert not set(train.speakers) & set(test.speakers)
    assert len(train) + len(test) == len(corpus)
    assert test.labels == train.labels == corpus.labels  # every speaker said every word


def test_split_by_speaker_needs_speakers():
    no_spk = Corpus([Utterance("a.wav", "x"), Utterance("b.wav", "y")])
    with pytest.raises(DataError):
        split_by_speaker(no_spk)
    one_spk = synthetic_corpus(speakers=["only"])
    with pytest.raises(DataError):
        split_by_speaker(one_spk)
    with pytest.raises(ParameterError):
        split_by_speaker(synthetic_corpus(), test_size=1.0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_kfold_is_stratified_partition(k):
    # unequal label sizes: 15, 10, 7 files
    corpus = Corpus(list(synthetic_corpus(labels=["a"], takes=3)) + list(synthetic_corpus(labels=["b"], takes=2))
                    + list(synthetic_corpus(labels=["c"], speakers=["s1"], takes=7)))
    totals = corpus.counts()
    folds = list(kfold(corpus, k=k, seed=0))
    assert len(folds) == k
    seen = []
    for train, test in folds:
        assert not {u.path for u in train} & {u.path for u in test}
        assert len(train) + len(test) == len(corpus)
        counts = test.counts()
        for lab, n in totals.items():
            assert abs(counts.get(lab, 0) - n / k) < 1, (lab, counts, k)
        seen += [u.path for u in test]
    assert sorted(seen) == sorted(u.path for u in corpus)  # every file is tested exactly once


def test_kfold_argument_checks():
    corpus = synthetic_corpus(speakers=["s1"], takes=3)  # 3 files per label
    with pytest.raises(ParameterError):
        list(kfold(corpus, k=1))
    with pytest.raises(DataError, match="3"):
        list(kfold(corpus, k=4))


def test_split_by_take():
    corpus = synthetic_corpus(takes=12)
    train, test = split_by_take(corpus, test_takes=5)
    assert {u.take for u in test} == set(range(5))
    assert {u.take for u in train} == set(range(5, 12))
    assert len(train) + len(test) == len(corpus)
    with pytest.raises(DataError):
        split_by_take(Corpus([Utterance("noise.wav", "x")]))


def test_leave_one_speaker_out():
    corpus = synthetic_corpus()
    folds = list(leave_one_speaker_out(corpus))
    assert [spk for spk, _, _ in folds] == corpus.speakers
    for spk, train, test in folds:
        assert {u.speaker for u in test} == {spk}
        assert spk not in {u.speaker for u in train}
        assert len(train) + len(test) == len(corpus)


def test_corpus_helpers():
    corpus = synthetic_corpus(labels=["b", "a"], speakers=["z", "y"], takes=2)
    assert corpus.labels == ["a", "b"]
    assert corpus.speakers == ["y", "z"]
    assert corpus.counts() == {"a": 4, "b": 4}
    sub = corpus.subset([0, 5])
    assert isinstance(sub, Corpus) and list(sub) == [corpus[0], corpus[5]]
    assert Counter(corpus.y) == Counter({"a": 4, "b": 4})

"""The shipped models of real speech: found by name wherever a model path goes, with their data's licence."""

from __future__ import annotations


import numpy as np
import pytest

from hmmrec import HMMRecognizer, audio, models
from hmmrec.cli import build_parser, main
from hmmrec.errors import ModelFileError

from helpers import shared_dataset

MAX_BYTES = 5 * 2**20  # "a few MB at most"


@pytest.mark.parametrize("name, sr, labels", [
    ("commands", 16000, ["_silence_", "_unknown_", "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"]),
    ("digits", 8000, ["eight", "five", "four", "nine", "one", "seven", "six", "three", "two", "zero"]),
])
def test_shipped_models_are_in_the_package_and_load_by_name(name, sr, labels):
    path = models.path_of(name)
    assert path.is_file(), f"{name} is not shipped: build it with scripts/build_models.py"
    assert path.stat().st_size < MAX_BYTES and name in models.names()
    rec = HMMRecognizer.load(name)
    assert rec.feature_config_.sr == sr and list(rec.classes_) == labels
    data = rec.training_summary_["data"]
    assert "CC BY" in data["licence"] and data["attribution"]


def test_a_file_of_that_name_comes_first_and_unknown_names_say_what_is_shipped(tmp_path, fruit_model_path,
                                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").write_bytes(fruit_model_path.read_bytes())
    assert models.resolve("digits").resolve() == tmp_path / "digits"
    assert list(HMMRecognizer.load("digits").classes_) == list(HMMRecognizer.load(fruit_model_path).classes_)
    with pytest.raises(ModelFileError, match="no such file.*commands, digits"):
        models.resolve("comands")


def test_listen_uses_commands_when_no_model_is_given():
    assert build_parser().parse_args(["listen"]).model == models.DEFAULT == "commands"


def test_info_names_the_data_and_its_licence(capsys):
    assert main(["info", "commands"]) == 0
    out = capsys.readouterr().out
    assert "12 labels" in out and "licence: CC BY 4.0" in out and "Warden" in out
    from hmmrec.recognizer import UNKNOWN_BIAS

    assert f"  _unknown_: +{UNKNOWN_BIAS:g} nats per frame when files are classified (unknown_bias)" in out.splitlines()


def test_digits_recognises_fsdd_files_by_name(capsys):
    files = sorted(shared_dataset("fsdd/recordings").glob("7_*_1.wav"))
    assert main(["recognize", "digits", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert out.count(": seven  (confidence") == len(files)


def test_commands_streams_real_keywords_by_name(tmp_path, capsys):
    """Thirty keywords of real speakers in a row, a second of background between them: the
    shipped model finds most of them, each at its place, and nothing else."""
    words = ["yes", "stop", "left", "go", "no", "up", "down", "right", "on", "off"]
    noise, _ = audio.load(sorted(shared_dataset("speech_commands/_silence_").glob("*.wav"))[0], 16000)
    gap = 0.1 * np.resize(noise, 16000)
    parts, truth, t = [], [], 0.0
    for rep in range(3):
        for k, w in enumerate(words):
            y, _ = audio.load(sorted(shared_dataset(f"speech_commands/{w}").glob("*.wav"))[k + 10 * rep], 16000)
            parts += [gap, y]
            truth.append((w, t + 1.0, t + 1.0 + len(y) / 16000))
            t += 1.0 + len(y) / 16000
    wav = audio.write_wav(tmp_path / "thirty.wav", np.concatenate(parts + [gap]), 16000)
    assert main(["stream", "commands", str(wav), "--jsonl"]) == 0
    import json

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    hits = [e for e in events if any(e["label"] == w and e["start"] < end and e["end"] > start
                                     for w, start, end in truth)]
    assert len(hits) == len(events) and len(hits) >= 15, events  # (24 of 30 when this was written)

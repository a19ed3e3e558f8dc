"""Output files are written through a fresh temporary file: never through an existing file or link."""

from __future__ import annotations

import json

import pytest

from hmmrec.cli import main
from hmmrec.errors import HmmrecError
from hmmrec.safefile import write_atomically


def test_a_stale_tmp_file_and_a_planted_link_are_left_alone(tmp_path, fruit_model):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's data")
    (tmp_path / "m.model.tmp").symlink_to(victim)  # what the old writer would have written through
    (tmp_path / "r.json.tmp").write_text("a file of the user's")
    fruit_model.save(tmp_path / "m.model")
    assert victim.read_text() == "the user's data"
    assert (tmp_path / "r.json.tmp").read_text() == "a file of the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.model", "m.model.tmp", "r.json.tmp", "victim.txt"]


def test_a_failed_write_leaves_no_file_and_the_target_as_it_was(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(HmmrecError, match="out.bin: cannot write .No space left on device"):
        write_atomically(target, broken, overwrite=True)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with pytest.raises(HmmrecError, match="already exists"):
        write_atomically(target, lambda fh: fh.write(b"new"))
    with pytest.raises(HmmrecError, match="is a directory"):
        write_atomically(tmp_path, lambda fh: fh.write(b"new"), overwrite=True)
    with pytest.raises(HmmrecError, match="cannot write"):
        write_atomically(tmp_path / "no" / "such" / "folder.bin", lambda fh: fh.write(b"x"))
    assert write_atomically(target, lambda fh: fh.write(b"new"), overwrite=True).read_bytes() == b"new"


def test_eval_json_report_is_written_whole(tmp_path, fruit_model_path, capsys):
    (tmp_path / "rep.json.tmp").symlink_to(tmp_path / "elsewhere.txt")
    from helpers import SOUNDS

    assert main(["eval", str(fruit_model_path), str(SOUNDS / "test"), "--json", str(tmp_path / "rep.json")]) == 0
    assert json.loads((tmp_path / "rep.json").read_text())["n"] > 0 and not (tmp_path / "elsewhere.txt").exists()

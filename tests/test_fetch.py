"""``hmmrec data fetch``: download (with resume), checksum, safe extraction, manifests.

Everything runs against a real HTTP server on 127.0.0.1 (``http.server`` in a thread, with
``Range: bytes=N-`` support) serving small archives built here: a fake Speech Commands
tarball (a few words by a few speakers, its split lists, a background noise recording) and
a fake FSDD tag tarball. No network access.
"""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hmmrec.cli import main
from hmmrec.corpus import load_corpus

from helpers import REPO

SR_SC, SR_FSDD = 16000, 8000
SPEAKERS = ["0a1b2c3d", "1f2e3d4c", "deadbeef"]
WORDS = ["yes", "no", "stop", "bed", "cat"]  # bed and cat are not keywords: _unknown_ in the 12 classes
VALIDATION = ["yes/1f2e3d4c_nohash_0.wav", "bed/1f2e3d4c_nohash_0.wav", "cat/1f2e3d4c_nohash_0.wav"]
TESTING = ["no/deadbeef_nohash_0.wav", "stop/deadbeef_nohash_1.wav", "cat/deadbeef_nohash_0.wav"]
NOISE_SECONDS = 10.5  # -> ten 1 s _silence_ clips: 8 train, 1 validation (clip 8), 1 test (clip 9)
FSDD_SPEAKERS, FSDD_TAKES = ["jackson", "theo"], 7  # takes 0-4 test, 5-6 train


def _wav_bytes(seconds: float, sr: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, (rng.standard_normal(int(seconds * sr)) * 1000).astype(np.int16), sr, subtype="PCM_16",
             format="WAV")
    return buf.getvalue()


def _tar_gz(members: dict) -> bytes:
    """A .tar.gz of {name: bytes, or ("symlink", target)} (names exactly as given, so also unsafe ones)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def speech_commands_archive() -> bytes:
    members, seed = {}, 0
    for word in WORDS:
        for spk in SPEAKERS:
            for take in (0, 1):
                seed += 1
                members[f"./{word}/{spk}_nohash_{take}.wav"] = _wav_bytes(0.05, SR_SC, seed)
    members["./validation_list.txt"] = ("\n".join(VALIDATION) + "\n").encode()
    members["./testing_list.txt"] = ("\n".join(TESTING) + "\n").encode()
    members["./_background_noise_/white_noise.wav"] = _wav_bytes(NOISE_SECONDS, SR_SC, 999)
    members["./_background_noise_/README.md"] = b"noise\n"
    members["./LICENSE"] = b"CC BY 4.0\n"
    return _tar_gz(members)


def fsdd_archive(extra: dict | None = None) -> bytes:
    top = "free-spoken-digit-dataset-1.0.9"
    members = {f"{top}/README.md": b"FSDD\n"}
    for d in range(3):
        for spk in FSDD_SPEAKERS:
            for take in range(FSDD_TAKES):
                members[f"{top}/recordings/{d}_{spk}_{take}.wav"] = _wav_bytes(0.02, SR_FSDD, d * 100 + take)
    members.update(extra or {})
    return _tar_gz(members)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the server ---------------------------------------------------------------------------------------------
class Server:
    """``/<name>``: the file, with Range support; ``/norange/<name>``: the file, Range ignored;
    ``/drop/<name>``: half the file, then the connection is closed; ``/slow/<name>``: half the
    file, then nothing for 10 s. Every request's path and Range header are recorded."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                mode, _, name = self.path.lstrip("/").rpartition("/")
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and mode == "" and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Content-Type", "application/gzip")
                self.end_headers()
                if mode in ("drop", "slow"):
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if mode == "slow":
                        server.stop.wait(10)
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str, mode: str = "") -> str:
        return f"{self.base}/{mode + '/' if mode else ''}{name}"

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


SC_NAME, FSDD_NAME = "speech_commands_v0.02.tar.gz", "free-spoken-digit-dataset-1.0.9.tar.gz"


@pytest.fixture(scope="module")
def archives():
    return {SC_NAME: speech_commands_archive(), FSDD_NAME: fsdd_archive()}


@pytest.fixture(scope="module")
def server(archives):
    s = Server()
    s.files.update(archives)
    yield s
    s.close()


def fetch(*args, quiet=True):
    return main(["data", "fetch", *map(str, args), *(["-q"] if quiet else [])])


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hmmrec: error: "), err
    assert "Traceback" not in err
    return lines[0]


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["path", "label", "speaker"]
        rows = list(reader)
    for r in rows:
        assert not Path(r["path"]).is_absolute() and (path.parent / r["path"]).is_file(), r
    return rows


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary folders and partial downloads."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".part"))


# -- end to end ---------------------------------------------------------------------------------------------
def test_speech_commands_end_to_end(server, archives, tmp_path, capsys):
    data = tmp_path / "data"
    rc = fetch("speech_commands", data, "--url", server.url(SC_NAME), "--sha256", sha(archives[SC_NAME]),
               quiet=False)
    out, err = capsys.readouterr()
    assert rc == 0, err
    corpus = data / "speech_commands"
    assert (data / SC_NAME).read_bytes() == archives[SC_NAME] and leftovers(data) == []
    assert "CC BY 4.0" in out and "Warden" in out and str(corpus / "train.csv") in out
    assert "\r" not in err and "downloading" in err  # stderr is not a terminal: log lines, no progress bar

    m = {name: read_manifest(corpus / f"{name}.csv") for name in
         ["train", "validation", "test", "train_all35", "validation_all35", "test_all35"]}
    n_words = len(WORDS) * len(SPEAKERS) * 2
    assert sorted(r["path"] for r in m["validation_all35"]) == sorted(VALIDATION)
    assert sorted(r["path"] for r in m["test_all35"]) == sorted(TESTING)
    assert len(m["train_all35"]) == n_words - len(VALIDATION) - len(TESTING)
    assert {r["label"] for r in m["train_all35"]} == set(WORDS)
    for r in m["train_all35"]:
        assert r["path"].split("/")[0] == r["label"] and r["speaker"] == r["path"].split("/")[1][:8]
    # 12 classes: keywords as themselves, the rest _unknown_, background noise cut into _silence_ clips
    for split in ("train", "validation", "test"):
        words = [r for r in m[split] if r["label"] != "_silence_"]
        assert [r["path"] for r in words] == [r["path"] for r in m[f"{split}_all35"]]
        for r, r35 in zip(words, m[f"{split}_all35"]):
            assert r["label"] == (r35["label"] if r35["label"] in ("yes", "no", "stop") else "_unknown_")
            assert r["speaker"] == r35["speaker"]
    silence = {s: [r for r in m[s] if r["label"] == "_silence_"] for s in ("train", "validation", "test")}
    assert [len(silence[s]) for s in ("train", "validation", "test")] == [8, 1, 1]
    assert silence["validation"][0]["path"] == "_silence_/white_noise_008.wav"
    assert silence["test"][0]["path"] == "_silence_/white_noise_009.wav"
    assert all(r["speaker"] == "" for s in silence.values() for r in s)
    clip = sf.info(str(corpus / "_silence_" / "white_noise_000.wav"))
    assert (clip.samplerate, clip.frames, clip.subtype) == (SR_SC, SR_SC, "PCM_16")
    # the manifests are the project's: load_corpus reads them
    train = load_corpus(corpus / "train.csv")
    assert train.labels == ["_silence_", "_unknown_", "no", "stop", "yes"]
    assert set(train.speakers) == set(SPEAKERS)

    # the folder exists: refused without --force, nothing touched
    before = server.requests[:]
    assert fetch("speech_commands", data, "--url", server.url(SC_NAME), "--sha256", sha(archives[SC_NAME])) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "speech_commands" in line and "--force" in line
    # --force: the verified archive is not downloaded again, the corpus is rebuilt
    (corpus / "train.csv").write_text("stale")
    assert fetch("speech_commands", data, "--url", server.url(SC_NAME), "--sha256", sha(archives[SC_NAME]),
                 "--force") == 0
    out = capsys.readouterr().out
    assert "already downloaded" in out and server.requests == before
    assert len(read_manifest(corpus / "train.csv")) == len(m["train"]) and leftovers(data) == []


def test_fsdd_end_to_end_from_a_file_url(archives, tmp_path, capsys):
    mirror = tmp_path / "mirror" / FSDD_NAME
    mirror.parent.mkdir()
    mirror.write_bytes(archives[FSDD_NAME])
    data = tmp_path / "data"
    rc = fetch("fsdd", data, "--url", mirror.as_uri(), "--sha256", sha(archives[FSDD_NAME]))
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "CC BY-SA 4.0" in out and "Jackson" in out
    root = data / "fsdd"
    assert (root / "README.md").is_file()  # the archive's top folder free-spoken-digit-dataset-1.0.9/ is the corpus
    train, test = read_manifest(root / "train.csv"), read_manifest(root / "test.csv")
    assert len(train) == 3 * len(FSDD_SPEAKERS) * (FSDD_TAKES - 5) and len(test) == 3 * len(FSDD_SPEAKERS) * 5
    for rows, takes in ((train, range(5, FSDD_TAKES)), (test, range(5))):
        for r in rows:
            digit, spk, take = Path(r["path"]).stem.split("_")
            assert r["path"].startswith("recordings/") and r["label"] == digit and r["speaker"] == spk
            assert int(take) in takes
    assert f"{root / 'train.csv'}: {len(train)} files, 3 labels" in out


# -- checksums ----------------------------------------------------------------------------------------------
def test_checksum_mismatch_deletes_the_download_and_extracts_nothing(server, archives, tmp_path, capsys):
    wrong = "0" * 64
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME), "--sha256", wrong) == 1
    line = one_error_line(capsys.readouterr().err)
    assert wrong in line and sha(archives[FSDD_NAME]) in line and "SHA-256" in line
    assert list(tmp_path.iterdir()) == []  # no archive, no .part, no corpus folder


def test_a_mirror_is_checked_against_the_known_hash(server, tmp_path, capsys):
    from hmmrec.fetch import FSDD_SHA256

    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME)) == 1  # our fake is not the real FSDD
    line = one_error_line(capsys.readouterr().err)
    assert f"expected {FSDD_SHA256}" in line and list(tmp_path.iterdir()) == []


def test_bad_sha256_argument_is_a_usage_error(tmp_path, capsys):
    assert fetch("fsdd", tmp_path, "--sha256", "abc") == 2
    assert "SHA-256" in one_error_line(capsys.readouterr().err)


# -- resuming -----------------------------------------------------------------------------------------------
def test_dropped_connection_then_resumed_with_a_range_request(server, archives, tmp_path, capsys):
    data, digest = archives[FSDD_NAME], sha(archives[FSDD_NAME])
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME, "drop"), "--sha256", digest) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "resume" in line and f"{len(data) // 2:,} of {len(data):,} bytes" in line
    part = tmp_path / (FSDD_NAME + ".part")
    assert part.read_bytes() == data[: len(data) // 2] and not (tmp_path / "fsdd").exists()

    n = len(server.requests)
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME), "--sha256", digest) == 0
    out = capsys.readouterr().out
    assert server.requests[n:] == [(f"/{FSDD_NAME}", f"bytes={len(data) // 2}-")]
    assert "resumed" in out and (tmp_path / FSDD_NAME).read_bytes() == data and not part.exists()
    assert len(read_manifest(tmp_path / "fsdd" / "test.csv")) == 3 * len(FSDD_SPEAKERS) * 5


def test_truncated_part_file_is_resumed(server, archives, tmp_path, capsys):
    data = archives[SC_NAME]
    (tmp_path / (SC_NAME + ".part")).write_bytes(data[:1000])
    n = len(server.requests)
    assert fetch("speech_commands", tmp_path, "--url", server.url(SC_NAME), "--sha256", sha(data)) == 0
    assert server.requests[n:] == [(f"/{SC_NAME}", "bytes=1000-")]
    assert (tmp_path / SC_NAME).read_bytes() == data and leftovers(tmp_path) == []
    assert "resumed" in capsys.readouterr().out


def test_complete_part_file_gets_416_and_is_used(server, archives, tmp_path, capsys):
    data = archives[FSDD_NAME]
    (tmp_path / (FSDD_NAME + ".part")).write_bytes(data)
    n = len(server.requests)
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME), "--sha256", sha(data)) == 0
    assert server.requests[n:] == [(f"/{FSDD_NAME}", f"bytes={len(data)}-")]  # asked for the rest: nothing
    assert (tmp_path / FSDD_NAME).read_bytes() == data and leftovers(tmp_path) == []


def test_server_ignoring_range_starts_over_cleanly(server, archives, tmp_path, capsys):
    data = archives[FSDD_NAME]
    (tmp_path / (FSDD_NAME + ".part")).write_bytes(b"not the start of the archive" * 10)
    n = len(server.requests)
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME, "norange"), "--sha256", sha(data)) == 0
    assert server.requests[n:] == [(f"/norange/{FSDD_NAME}", "bytes=280-")]  # asked, answered 200
    assert (tmp_path / FSDD_NAME).read_bytes() == data and leftovers(tmp_path) == []


def test_sigterm_during_download_keeps_the_part_file(server, archives, tmp_path):
    data = archives[FSDD_NAME]
    part = tmp_path / (FSDD_NAME + ".part")
    proc = subprocess.Popen([sys.executable, "-m", "hmmrec.cli", "data", "fetch", "fsdd", str(tmp_path), "-q",
                             "--url", server.url(FSDD_NAME, "slow"), "--sha256", sha(data)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while not (part.exists() and part.stat().st_size == len(data) // 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 143, err  # SIGTERM: terminated, cleanly
    assert "partial download kept" in err and "Traceback" not in err
    assert part.read_bytes() == data[: len(data) // 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [part.name]  # no corpus, no temporary folder


def test_interrupted_extraction_leaves_no_corpus_folder(server, archives, tmp_path, capsys, monkeypatch):
    import hmmrec.fetch

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(hmmrec.fetch, "_find_root", interrupt)  # after unpacking, before the manifests
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME), "--sha256", sha(archives[FSDD_NAME])) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == [FSDD_NAME]  # the verified archive only


# -- unsafe archives ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("evil", [
    {"../evil.txt": b"outside"},
    {"free-spoken-digit-dataset-1.0.9/../../evil.txt": b"outside"},
    {"/tmp/hmmrec-evil-absolute.txt": b"outside"},
    {"free-spoken-digit-dataset-1.0.9/link": ("symlink", "../../..")},
    {"free-spoken-digit-dataset-1.0.9/abslink": ("symlink", "/etc")},
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute"])
def test_unsafe_archive_is_refused(server, tmp_path, capsys, evil):
    archive = fsdd_archive(evil)
    server.files["evil.tar.gz"] = archive
    data = tmp_path / "a" / "b"
    assert fetch("fsdd", data, "--url", server.url("evil.tar.gz"), "--sha256", sha(archive)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "refusing" in line or "outside" in line
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert not Path("/tmp/hmmrec-evil-absolute.txt").exists()
    assert sorted(p.name for p in data.iterdir()) == ["evil.tar.gz"]  # no corpus, no temporary folder


def test_not_an_archive(server, tmp_path, capsys):
    server.files["junk.tar.gz"] = b"this is not a tarball"
    assert fetch("fsdd", tmp_path, "--url", server.url("junk.tar.gz"), "--sha256", sha(b"this is not a tarball")) == 1
    assert "not a tar archive" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "fsdd").exists() and leftovers(tmp_path) == []


# -- network errors -----------------------------------------------------------------------------------------
def test_http_404_is_one_line(server, tmp_path, capsys):
    assert fetch("fsdd", tmp_path, "--url", server.url("missing.tar.gz"), "--sha256", "1" * 64) == 1
    assert "HTTP 404" in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_one_line(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert fetch("fsdd", tmp_path, "--url", f"http://127.0.0.1:{port}/x.tar.gz", "--sha256", "1" * 64) == 1
    assert "connection refused" in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_one_line(tmp_path, capsys):
    with socket.socket() as s:  # accepts connections (the backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/x.tar.gz"
        assert fetch("fsdd", tmp_path, "--url", url, "--sha256", "1" * 64, "--timeout", "0.3") == 1
    assert "timed out" in one_error_line(capsys.readouterr().err)


def test_unsupported_url_scheme(tmp_path, capsys):
    assert fetch("fsdd", tmp_path, "--url", "ftp://example.org/x.tar.gz", "--sha256", "1" * 64) == 1
    assert "http://" in one_error_line(capsys.readouterr().err)


def test_data_list_names_the_corpora_and_their_licences(capsys):
    from hmmrec.fetch import CORPORA

    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for c in CORPORA.values():
        assert c.url in out and c.sha256 in out and c.licence in out
    assert os.path.basename(CORPORA["speech_commands"].url) == "speech_commands_v0.02.tar.gz"


def test_without_tarfile_data_filter_links_are_refused_and_plain_archives_still_work(server, archives, tmp_path,
                                                                                      capsys, monkeypatch):
    # Python before 3.10.12 / 3.11.4 has no filter="data": hmmrec's own checks must be enough
    import hmmrec.fetch

    monkeypatch.setattr(hmmrec.fetch, "_has_data_filter", lambda: False)
    for i, evil in enumerate([{"../evil.txt": b"x"}, {"free-spoken-digit-dataset-1.0.9/in": ("symlink", "README.md")}]):
        archive = fsdd_archive(evil)
        server.files[f"evil{i}.tar.gz"] = archive
        data = tmp_path / f"evil{i}"
        assert fetch("fsdd", data, "--url", server.url(f"evil{i}.tar.gz"), "--sha256", sha(archive)) == 1
        assert "refusing" in one_error_line(capsys.readouterr().err)
        assert sorted(p.name for p in data.iterdir()) == [f"evil{i}.tar.gz"] and not (tmp_path / "evil.txt").exists()
    data = tmp_path / "ok"
    assert fetch("fsdd", data, "--url", server.url(FSDD_NAME), "--sha256", sha(archives[FSDD_NAME])) == 0
    assert len(read_manifest(data / "fsdd" / "train.csv")) == 3 * len(FSDD_SPEAKERS) * (FSDD_TAKES - 5)


def test_leftovers_of_a_killed_run_are_removed_not_those_of_a_running_one(server, archives, tmp_path, capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".hmmrec-extract-fsdd-{dead.pid}-abc"  # SIGKILLed mid-extraction
    running = tmp_path / f".hmmrec-extract-fsdd-{os.getpid()}-def"  # a live process's
    other = tmp_path / f".hmmrec-extract-speech_commands-{dead.pid}-ghi"  # another corpus: not ours to judge
    for d in (stale, running, other):
        (d / "recordings").mkdir(parents=True)
    assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME), "--sha256", sha(archives[FSDD_NAME])) == 0
    assert not stale.exists() and running.is_dir() and other.is_dir()


def test_a_second_download_into_the_same_part_file_is_refused(server, archives, tmp_path, capsys):
    fcntl = pytest.importorskip("fcntl")
    part = tmp_path / (FSDD_NAME + ".part")
    with open(part, "wb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # as a running hmmrec holds it
        assert fetch("fsdd", tmp_path, "--url", server.url(FSDD_NAME), "--sha256", sha(archives[FSDD_NAME])) == 1
    assert "another download" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "fsdd").exists()

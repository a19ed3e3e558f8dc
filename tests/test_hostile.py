"""Hostile and careless inputs: crafted model files (a zip bomb, lying headers), devices,
FIFOs, audio headers that lie, broken manifests, writes that cannot succeed, SIGTERM.

Each case must end in one specific ``hmmrec: error: ...`` line (never the catch-all
``unexpected ...``), quickly and in little memory, and must leave no file behind. The
crafted cases run in a child process whose peak memory is measured; the property-based
tests (Hypothesis) run under an address-space cap and a deadline.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hostile as H
from helpers import REPO, SOUNDS, small_train_set
from hmmrec import audio
from hmmrec.cli import main
from hmmrec.errors import AudioError, ModelFileError
from hmmrec.modelfile import read_model

BASE = REPO / "hmmrec" / "models" / "digits.model"  # a real model file to craft from
WAV = sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))[0]
MAX_SECONDS = 5.0  # per crafted case
MAX_PEAK_MB = 500.0  # the whole child process, every case included


def _crafted_cases(d: Path) -> dict:
    """name -> (command line, a fragment its one-line error must hold)."""
    cases = {}

    def model(name, path, expect, recognize=True):
        argv = ["recognize", str(path), str(WAV)] if recognize else ["info", str(path)]
        cases[name] = (argv, expect)

    # devices, FIFOs, links to them: refused before reading a byte
    (d / "zero-link.model").symlink_to("/dev/zero")
    os.mkfifo(d / "fifo.model")
    os.mkfifo(d / "fifo.wav")
    os.mkfifo(d / "fifo.csv")
    model("dev_zero", "/dev/zero", "is a device", recognize=False)
    model("dev_urandom", "/dev/urandom", "is a device", recognize=False)
    model("link_to_dev_zero", d / "zero-link.model", "is a device", recognize=False)
    model("fifo_model", d / "fifo.model", "is a FIFO", recognize=False)
    cases["fifo_wav"] = (["recognize", str(BASE), str(d / "fifo.wav")], "is a FIFO")
    cases["dev_zero_wav"] = (["recognize", str(BASE), "/dev/zero"], "is a device")
    cases["fifo_manifest"] = (["eval", str(BASE), str(d / "fifo.csv")], "is a FIFO")
    cases["fifo_truth_list"] = (["kws", str(BASE), str(WAV), "--truth", str(d / "fifo.csv")], "is a FIFO")
    cases["dev_zero_truth_list"] = (["kws", str(BASE), str(WAV), "--truth", "/dev/zero"], "is a device")
    # zip bombs: 1 GiB of zeros in ~1 MB, as an unknown member and in place of a real one
    model("bomb_unknown_member", H.zip_bomb(BASE, d / "bomb1.model", "bomb.npy", 1 << 30), "unknown member")
    model("bomb_real_member", H.zip_bomb(BASE, d / "bomb2.model", "m0_means.npy", 1 << 30), "more than")
    model("npy_header_lies", H.lying_npy_member(BASE, d / "lie.model", "m0_means.npy", (10 ** 12,)),
          "does not match its header")
    # audio headers that lie
    for rate, expect in ((1, "sample rates from 1000"), (500, "sample rates from 1000"),
                         (4_000_000_000, "not a readable audio file"), (10 ** 6, "sample rates from 1000")):
        cases[f"wav_{rate}_hz"] = (["recognize", str(BASE), str(H.wav_with_rate(d / f"r{rate}.wav", rate))], expect)
    cases["wav_20_mb"] = (["recognize", str(BASE), str(H.long_wav(d / "long.wav", 655))], "not read as one utterance")
    # feature settings a header may not have
    for setting, value, expect in (("hop_s", 1e-5, "hop_s"), ("n_filt", 200000, "n_filt"),
                                   ("n_fft", 2 ** 22, "n_fft"), ("delta_n", 10 ** 7, "delta_n"),
                                   ("preemph", float("nan"), "preemph"), ("lifter", -1, "lifter"),
                                   ("sr", 4_000_000_000, "sr"), ("win_s", 1e9, "win_s"), ("sr", "8000", "sr"),
                                   ("high_hz", 1e6, "high_hz")):
        name = f"feature_{setting}_{value!r}"
        model(name, H.with_feature_settings(BASE, d / f"{name}.model", **{setting: value}), f"FeatureConfig.{setting}")
    model("low_above_high", H.with_feature_settings(BASE, d / "f_band.model", low_hz=3000.0, high_hz=100.0),
          "low_hz")

    # header values
    def header(name, change, expect):
        model(name, H.with_header(BASE, d / f"h_{name}.model", change), expect)

    header("temperature_nan", lambda h: h.update(temperature=float("nan")), "temperature")
    header("temperature_zero", lambda h: h.update(temperature=0), "temperature")
    header("temperature_negative", lambda h: h.update(temperature=-2.0), "temperature")
    header("labels_null", lambda h: h.update(labels=[None] * len(h["labels"])), "labels")
    header("labels_integers", lambda h: h.update(labels=list(range(len(h["labels"])))), "labels")
    header("labels_duplicated", lambda h: h.update(labels=["one"] * len(h["labels"])), "labels must be unique")
    header("label_empty", lambda h: h.update(labels=[""] + h["labels"][1:]), "labels")
    header("label_nul", lambda h: h.update(labels=["one\x00"] + h["labels"][1:]), "labels")
    header("version_string", lambda h: h.update(version="3"), "format version '3'")
    header("version_zero", lambda h: h.update(version=0), "format version 0")
    header("version_negative", lambda h: h.update(version=-1), "format version -1")
    header("version_true", lambda h: h.update(version=True), "format version True")
    header("version_newer", lambda h: h.update(version=99), "upgrade hmmrec")
    header("params_list", lambda h: h.update(params=[1]), "params")
    header("params_junk", lambda h: h["params"].update(var_floor="x"), "params")
    header("params_n_jobs", lambda h: h["params"].update(n_jobs=10 ** 9), "n_jobs")
    header("training_null", lambda h: h.update(training=None), "training")
    header("speech_limit_string", lambda h: h["training"].update(speech_s={h["labels"][0]: "0.1"}), "speech_s")
    header("speech_limit_negative", lambda h: h["training"].update(speech_s={h["labels"][0]: -1}), "speech_s")
    header("speech_limit_unknown_label", lambda h: h["training"].update(speech_s={"nobody": 0.1}), "speech_s")
    header("speech_limits_list", lambda h: h["training"].update(speech_s=[0.1]), "speech_s")
    header("no_speech_share_above_one", lambda h: h["training"].update(no_speech_share={h["labels"][0]: 1.5}),
           "no_speech_share")
    header("no_speech_share_unknown_label", lambda h: h["training"].update(no_speech_share={"nobody": 0.0}),
           "no_speech_share")
    header("keyword_lead_string", lambda h: h["training"].update(keyword_lead_p50="6"), "keyword_lead_p50")
    header("keyword_lead_huge", lambda h: h["training"].update(keyword_lead_p50=1e300), "keyword_lead_p50")
    header("feature_config_null", lambda h: h.update(feature_config=None), "feature_config")
    header("feature_config_unknown", lambda h: h["feature_config"].update(evil=1), "unknown FeatureConfig")
    header("extra_labels_text", lambda h: h.update(extra_labels=["a"]), "extra_labels")
    header("extra_labels_out_of_range", lambda h: h.update(extra_labels=[99]), "extra_labels")
    # arrays
    a = H.arrays_of(BASE)
    zero_row = a["m0_transmat"].copy()
    zero_row[0] = 0
    nan_means = a["m0_means"].copy()
    nan_means[0, 0, 0] = np.nan
    for name, arrays, expect in (
            ("negative_weights", {"m0_weights": -a["m0_weights"]}, "weights"),
            ("zero_transition_row", {"m0_transmat": zero_row}, "transmat"),
            ("complex_means", {"m0_means": a["m0_means"].astype(complex)}, "not an array of real numbers"),
            ("integer_weights", {"m0_weights": a["m0_weights"].astype(np.int64)}, "not an array of real numbers"),
            ("nan_means", {"m0_means": nan_means}, "non-finite"),
            ("zero_variances", {"m0_variances": np.zeros_like(a["m0_variances"])}, "variances"),
            ("wrong_shape", {"m0_means": a["m0_means"][:, :, :5]}, "inconsistent shapes"),
            ("unknown_array", {"zz_extra": np.zeros(3)}, "unknown member")):
        model(name, H.rewrite_model(BASE, d / f"a_{name}.model", arrays=arrays), expect)
    (d / "garbage.model").write_bytes(os.urandom(4096))
    model("random_bytes", d / "garbage.model", "not an hmmrec model file")
    (d / "empty.model").write_bytes(b"")
    model("empty_file", d / "empty.model", "not an hmmrec model file")

    # manifests
    def manifest(name, text, expect):
        (d / f"{name}.csv").write_text(text)
        cases[name] = (["eval", str(BASE), str(d / f"{name}.csv")], expect)

    manifest("label_with_nul", f"path,label\n{WAV},kiwi\x00\n", "control characters")
    manifest("row_twice", f"path,label\n{WAV},kiwi\n{WAV},kiwi\n", "listed again (line 2)")
    manifest("file_under_two_labels", f"path,label\n{WAV},kiwi\n{WAV},lime\n", "listed under 'kiwi' too")
    manifest("no_label_column", f"path\n{WAV}\n", "manifest needs columns path,label")
    (d / "latin1.csv").write_bytes("path,label\nk.wav,caf\xe9\n".encode("latin-1"))
    cases["not_utf8_manifest"] = (["eval", str(BASE), str(d / "latin1.csv")], "not a UTF-8 CSV manifest")

    # outputs that cannot be written: refused before any work
    (d / "adir").mkdir()
    train = ["train", str(SOUNDS / "train"), "--mix", "1", "--mmi", "0"]
    cases["model_onto_a_directory"] = (train + ["-o", str(d / "adir"), "--force"], "is a directory")
    cases["model_into_a_missing_folder"] = (train + ["-o", str(d / "no" / "m.model")], "does not exist")
    cases["report_onto_a_directory"] = (["eval", str(BASE), str(SOUNDS / "test"), "--json", str(d / "adir"),
                                         "--force"], "is a directory")
    # a device or FIFO as the output (or a link to one) is never replaced: here a FIFO
    # stands for /dev/full or /dev/null, which a root user's rename would replace
    (d / "fifo-link.json").symlink_to(d / "fifo.csv")
    cases["model_onto_a_fifo"] = (train + ["-o", str(d / "fifo.model"), "--force"], "is not a regular file")
    cases["report_onto_a_link_to_a_fifo"] = (["eval", str(BASE), str(SOUNDS / "test"), "--json",
                                               str(d / "fifo-link.json"), "--force"], "is not a regular file")
    return cases


@pytest.fixture(scope="module")
def crafted_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("crafted")
    cases = _crafted_cases(d)
    spec = d / "cases.json"
    spec.write_text(json.dumps({name: argv for name, (argv, _) in cases.items()}))
    before = set(os.listdir(d))  # what the cases start from: nothing may be added or removed
    r = subprocess.run([sys.executable, str(REPO / "tests" / "hostile.py"), str(spec)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return cases, json.loads(r.stdout.splitlines()[-1]), d, before


def test_crafted_inputs_get_a_specific_one_line_error(crafted_results):
    cases, results, _, _ = crafted_results
    wrong = {}
    for name, (_, expect) in cases.items():
        got = results[name]
        lines = got["stderr"].strip().splitlines()
        ok = (got["rc"] == 1 and len(lines) == 1 and lines[0].startswith("hmmrec: error: ")
              and "unexpected" not in lines[0] and expect in lines[0] and "Traceback" not in got["stderr"])
        if not ok:
            wrong[name] = (got["rc"], got["stderr"][-300:], expect)
    assert not wrong, wrong


def test_crafted_inputs_answer_fast_in_little_memory(crafted_results):
    cases, results, _, _ = crafted_results
    slow = {name: round(results[name]["seconds"], 2) for name in cases if results[name]["seconds"] > MAX_SECONDS}
    assert not slow, slow
    assert results["peak_mb"] <= MAX_PEAK_MB, results["peak_mb"]


def test_failed_commands_leave_no_file_behind(crafted_results):
    _, _, d, before = crafted_results
    assert set(os.listdir(d)) == before
    assert list((d / "adir").iterdir()) == []
    assert (d / "fifo.model").is_fifo() and (d / "fifo-link.json").is_symlink() and (d / "fifo.csv").is_fifo()


# -- permissions -----------------------------------------------------------------------------------
def test_unreadable_files_and_folders_say_permission_denied(tmp_path, monkeypatch, capsys):
    """As the files' owner would see it (root reads everything: there the OS's answer is simulated)."""
    model = tmp_path / "m.model"
    shutil.copy(BASE, model)
    tree = tmp_path / "data"
    (tree / "kiwi").mkdir(parents=True)
    shutil.copy(WAV, tree / "kiwi" / "k.wav")
    if os.geteuid() != 0:
        model.chmod(0)
        (tree / "kiwi").chmod(0)
    else:
        import pathlib

        import hmmrec.safefile

        real_open, real_iterdir = os.open, pathlib.Path.iterdir

        def denied_open(path, *args, **kw):
            if str(path) == str(model):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kw)

        def denied_iterdir(self):
            if self == tree / "kiwi":
                raise PermissionError(13, "Permission denied")
            return real_iterdir(self)

        monkeypatch.setattr(hmmrec.safefile.os, "open", denied_open)
        monkeypatch.setattr(pathlib.Path, "iterdir", denied_iterdir)
    try:
        assert main(["info", str(model)]) == 1
        assert capsys.readouterr().err.strip() == f"hmmrec: error: {model}: cannot open (Permission denied)"
        assert main(["eval", str(BASE), str(tree)]) == 1
        err = capsys.readouterr().err.strip()
        assert err == f"hmmrec: error: {tree / 'kiwi'}: cannot read the folder (Permission denied)"
    finally:
        if os.geteuid() != 0:
            (tree / "kiwi").chmod(0o755)


# -- writes that fail half way ---------------------------------------------------------------------
@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs (root only; skipped where the machine does not allow mounting)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _tiny_training_data(folder: Path) -> Path:
    X, y = small_train_set()
    csv = folder / "tiny.csv"
    csv.write_text("path,label\n" + "".join(f"{x},{lab}\n" for x, lab in zip(X, y)))
    return csv


def test_disk_full_is_one_line_and_leaves_nothing(small_tmpfs, tmp_path, capsys):
    (small_tmpfs / "filler").write_bytes(b"x" * (60 << 10))  # 4 KiB left: a model file does not fit
    data = _tiny_training_data(tmp_path)
    out = small_tmpfs / "m.model"
    rc = main(["train", str(data), "-o", str(out), "--mix", "1", "--warps", "none", "--noise", "none",
               "--mmi", "0", "--jobs", "1", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err[-1] == f"hmmrec: error: {out}: cannot write (No space left on device)", err
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler"]


def test_read_only_target_fails_before_training(small_tmpfs, tmp_path, capsys):
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    t = time.perf_counter()
    rc = main(["train", str(SOUNDS / "train"), "-o", str(small_tmpfs / "m.model")])
    assert rc == 1 and time.perf_counter() - t < 2.0  # no training happened
    assert capsys.readouterr().err.strip() == f"hmmrec: error: {small_tmpfs / 'm.model'}: cannot write (Read-only file system)"


# -- signals ---------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    psutil = pytest.importorskip("psutil")
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_sigterm_during_training_ends_cleanly(tmp_path):
    """Terminated while its worker processes train: exit 143 at once, one line, no model
    or temporary file, no worker left holding the caller's pipes."""
    import psutil

    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "hmmrec.cli", "train", str(SOUNDS / "train"), "-o",
                             str(out / "m.model"), "--jobs", "2"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert workers, "training never started worker processes"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    t = time.monotonic()
    _, err = proc.communicate(timeout=30)  # would hang while a worker held the pipes
    assert time.monotonic() - t < 10
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "hmmrec: terminated", err[-500:]
    assert "Traceback" not in err
    assert list(out.iterdir()) == []
    time.sleep(1.0)
    alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive


# -- property-based fuzzing ------------------------------------------------------------------------
hypothesis = pytest.importorskip("hypothesis", reason="fuzzing needs Hypothesis (pip install 'hmmrec[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=150, deadline=MAX_SECONDS * 1000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def memory_cap():
    """Lower this process's address-space limit to what it uses now plus 1 GiB for the test."""
    with open("/proc/self/statm") as fh:
        used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _mutated(base: bytes, edits, cut) -> bytes:
    b = bytearray(base)
    for pos, value in edits:
        b[pos % len(b)] = value
    return bytes(b[:cut]) if cut else bytes(b)


@given(edits=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 200)), noise=st.binary(max_size=64))
@FUZZ
def test_the_audio_reader_answers_or_says_why(tmp_path, memory_cap, edits, cut, noise):
    base = (tmp_path / "base.wav")
    if not base.exists():
        H.wav_with_rate(base, 16000, n_samples=400)
    f = tmp_path / "fuzz.wav"
    f.write_bytes(_mutated(base.read_bytes(), edits, cut) + noise)
    try:
        y, sr = audio.load(f, 16000)
    except AudioError as exc:
        assert str(f) in str(exc) and "\n" not in str(exc)
    else:
        assert y.dtype == np.float32 and np.all(np.isfinite(y)) and sr == 16000


@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 7), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 600_000)))
@FUZZ
def test_the_model_reader_answers_or_says_why_for_damaged_bytes(tmp_path, memory_cap, edits, cut):
    f = tmp_path / "fuzz.model"
    f.write_bytes(_mutated(BASE.read_bytes(), edits, cut))
    try:
        read_model(f)
    except ModelFileError as exc:
        assert str(f) in str(exc) and "\n" not in str(exc)


def test_a_member_whose_compressed_bytes_are_damaged_is_a_damaged_model_file(tmp_path):
    """A byte changed inside a deflated member, so that inflating it fails (zlib's "invalid
    distance" and the like, found by the fuzz test above): one line, not a traceback."""
    import zipfile
    import zlib

    base = BASE.read_bytes()
    with zipfile.ZipFile(BASE) as z:
        member = max((i for i in z.infolist() if i.compress_type == zipfile.ZIP_DEFLATED), key=lambda i: i.compress_size)
    start = member.header_offset + 30 + len(member.filename.encode()) + int.from_bytes(
        base[member.header_offset + 28:member.header_offset + 30], "little")
    for pos in range(start + 16, start + member.compress_size):
        b = bytearray(base)
        b[pos] ^= 0xFF
        try:
            zlib.decompressobj(-15).decompress(bytes(b[start:start + member.compress_size]))
        except zlib.error:
            break
    else:
        pytest.fail("no single byte made the member fail to inflate")
    f = tmp_path / "inflate.model"
    f.write_bytes(bytes(b))
    with pytest.raises(ModelFileError, match="damaged hmmrec model file") as exc:
        read_model(f)
    assert str(f) in str(exc.value) and "\n" not in str(exc.value)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)


@given(where=st.sampled_from(["labels", "temperature", "version", "params", "training", "extra_labels",
                              "feature_config", "feature_config.sr", "feature_config.n_fft",
                              "feature_config.hop_s", "feature_config.delta_n", "params.n_states",
                              "params.n_jobs", "format"]),
       value=_JSON)
@FUZZ
def test_the_model_reader_answers_or_says_why_for_any_header_value(tmp_path, memory_cap, where, value):
    h = H.header_of(BASE)
    parent, _, key = where.rpartition(".")
    (h[parent] if parent else h)[key] = value
    f = H.rewrite_model(BASE, tmp_path / "fuzz.model", header=h)
    from hmmrec import HMMRecognizer

    try:
        HMMRecognizer.load(f)
    except ModelFileError as exc:
        assert str(f) in str(exc) and "\n" not in str(exc)


def test_worker_clean_up_warnings_stay_out_of_the_last_line(monkeypatch):
    """After SIGTERM or Ctrl-C, loky's resource tracker (a child process) may warn that it frees
    the semaphores of the stopped workers, after 'hmmrec: terminated'; hmmrec's children are
    started with that warning filtered, others still shown, and a user's own filters kept."""
    from hmmrec.cli import main

    monkeypatch.setenv("PYTHONWARNINGS", "default::DeprecationWarning")
    assert main(["info", "digits"]) == 0
    env = os.environ["PYTHONWARNINGS"]
    assert env.startswith("default::DeprecationWarning,")
    child = subprocess.run([sys.executable, "-c", "import warnings; "
                            "warnings.warn('resource_tracker: There appear to be 1 leaked semlock objects'); "
                            "warnings.warn('something else')"], env=dict(os.environ), capture_output=True, text=True)
    assert "leaked semlock" not in child.stderr and "something else" in child.stderr
    assert main(["info", "digits"]) == 0
    assert os.environ["PYTHONWARNINGS"] == env  # added once

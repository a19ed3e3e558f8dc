"""Crafted files an attacker or a careless user might hand to hmmrec: model files with
broken headers or arrays, a zip bomb, audio headers that lie. Used by tests/test_hostile.py.

Every maker writes ``out_path`` and returns it.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np


def header_of(model_path) -> dict:
    with np.load(model_path, allow_pickle=False) as npz:
        return json.loads(bytes(npz["header"]).decode("utf-8"))


def arrays_of(model_path) -> dict:
    with np.load(model_path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def rewrite_model(model_path, out_path, header=None, arrays=None) -> Path:
    """A copy of a model file with its header replaced and some arrays replaced or added."""
    data = arrays_of(model_path)
    if header is not None:
        data["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    data.update(arrays or {})
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in data.items():
            z.writestr(f"{k}.npy", _npy(v))
    return Path(out_path)


def with_header(model_path, out_path, change) -> Path:
    """A copy of a model file whose JSON header went through ``change(header)`` (in place)."""
    h = header_of(model_path)
    change(h)
    return rewrite_model(model_path, out_path, header=h)


def with_feature_settings(model_path, out_path, **settings) -> Path:
    return with_header(model_path, out_path, lambda h: h["feature_config"].update(settings))


def zip_bomb(model_path, out_path, member: str, member_bytes: int) -> Path:
    """A model file whose member ``member`` (a real one such as "m0_means.npy", or a new
    name) is a float64 array of ``member_bytes`` zeros, deflated to about a thousandth."""
    with zipfile.ZipFile(model_path) as src, zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            if info.filename != member:
                z.writestr(info.filename, src.read(info.filename))
        n = (member_bytes - 128) // 8
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
        with z.open(member, "w", force_zip64=True) as fh:
            fh.write(head.getvalue())
            zeros = bytes(1 << 24)
            left = n * 8
            while left > 0:
                fh.write(zeros[:min(left, len(zeros))])
                left -= len(zeros)
    return Path(out_path)


def lying_npy_member(model_path, out_path, member: str, shape: tuple) -> Path:
    """A model file whose member ``member`` has a .npy header claiming ``shape`` over a few bytes."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(model_path) as src, zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, head.getvalue() + bytes(64) if info.filename == member
                       else src.read(info.filename))
    return Path(out_path)


def wav_with_rate(out_path, rate: int, n_samples: int = 1000) -> Path:
    """A 16-bit mono PCM WAV whose header says ``rate`` Hz (any value a 32-bit field holds)."""
    data = (np.sin(np.arange(n_samples) * 0.3) * 8000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate & 0xFFFFFFFF, (rate * 2) & 0xFFFFFFFF, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    Path(out_path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return Path(out_path)


def long_wav(out_path, seconds: float, rate: int = 16000) -> Path:
    """A 16-bit mono WAV of ``seconds`` of quiet noise, written without holding it in memory."""
    n = int(seconds * rate)
    body_len = 36 + 2 * n
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    rng = np.random.default_rng(0)
    with open(out_path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", body_len) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
                 + b"data" + struct.pack("<I", 2 * n))
        for a in range(0, n, 1 << 20):
            fh.write((rng.standard_normal(min(1 << 20, n - a)) * 300).astype("<i2").tobytes())
    return Path(out_path)


def run_cases(cases: dict) -> dict:
    """Run ``hmmrec`` command lines in this process, one after another: for each name,
    its exit status, what it printed on stderr and how long it took; then the peak memory of
    the whole run (``peak_mb``)."""
    import contextlib
    import time

    from hmmrec.cli import main

    out = {}
    for name, argv in cases.items():
        err, std = io.StringIO(), io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
            rc = main(argv)
        out[name] = {"rc": rc, "stderr": err.getvalue(), "seconds": time.perf_counter() - t}
    out["peak_mb"] = peak_mb()
    return out


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: on Linux that keeps
    the high-water mark of the process that started this one when it used vfork."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":  # python tests/hostile.py CASES.json: results as JSON on stdout
    import resource
    import sys

    # a safety net only (the tests check the peak against far less): a runaway case
    # fails with MemoryError instead of taking the machine down
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    print(json.dumps(run_cases(json.loads(Path(sys.argv[1]).read_text()))))

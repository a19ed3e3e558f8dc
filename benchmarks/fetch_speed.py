"""Download speed of ``hmmrec data fetch`` (hmmrec.fetch) over loopback, and a resume. Prints JSON.

    python benchmarks/fetch_speed.py [--mb 50]

Builds a ~50 MB FSDD-shaped archive (``<top>/recordings/{digit}_{speaker}_{take}.wav`` of
random 8 kHz samples: incompressible, so the archive is as large as its WAV files), serves
it from a thread on 127.0.0.1 (``http.server``, honouring ``Range: bytes=N-``), and fetches
it with the real code (:func:`hmmrec.fetch.fetch`, SHA-256 computed while downloading and
checked, then safe extraction and the manifests). Reported:

* ``download_mb_per_s``: archive megabytes (10^6 bytes) per second of the download step
  alone (streaming + hashing + writing the ``.part``; the target is >= 50 MB/s);
* ``fetch_seconds``: the whole command (download, check, extraction, manifests);
* ``resume``: a second fetch into a fresh folder whose first attempt the server cuts off
  half way (exit with "run again to resume"), then run again: whether the server saw a
  ``Range`` header from where the first attempt stopped and the archive verified.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import os
import platform
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path

import numpy as np
from _common import Timer, emit, log

from hmmrec.errors import DataError
from hmmrec.fetch import fetch


def build_archive(path: Path, megabytes: float, seed: int = 0) -> int:
    """An FSDD-shaped .tar.gz of random WAV files, about ``megabytes`` MB; returns its number of files."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    per_file = 100_000  # bytes of samples per WAV (6.25 s at 8 kHz)
    n = max(20, int(megabytes * 1e6 / per_file))
    speakers = ["alice", "bob", "carol", "dave"]
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for i in range(n):
            digit, speaker, take = i % 10, speakers[(i // 10) % 4], i // 40
            buf = io.BytesIO()
            sf.write(buf, rng.integers(-32768, 32768, per_file // 2, dtype=np.int16), 8000, subtype="PCM_16",
                     format="WAV")
            info = tarfile.TarInfo(f"fsdd-bench/recordings/{digit}_{speaker}_{take}.wav")
            info.size, info.mode = buf.tell(), 0o644
            buf.seek(0)
            tar.addfile(info, buf)
    return n


def serve(archive: Path):
    """(base URL, list of (path, Range header) requests, shutdown function)."""
    size = archive.stat().st_size
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            seen.append((self.path, rng))
            start = int(rng[6:-1]) if rng and rng.startswith("bytes=") and rng.endswith("-") else 0
            if start:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            stop = size // 2 if self.path.startswith("/drop/") else size
            with open(archive, "rb") as fh:
                fh.seek(start)
                left = stop - start
                while left > 0:
                    block = fh.read(min(1 << 20, left))
                    self.wfile.write(block)
                    left -= len(block)
            if stop < size:
                self.close_connection = True

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def shutdown():
        httpd.shutdown()
        httpd.server_close()

    return f"http://127.0.0.1:{httpd.server_address[1]}", seen, shutdown


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50.0, help="archive size in MB (default 50)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hmmrec-fetch-bench-"))
    try:
        archive = work / "fsdd-bench.tar.gz"
        with Timer() as tb:
            n_files = build_archive(archive, args.mb)
        size = archive.stat().st_size
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        log(f"built {archive.name}: {size / 1e6:.1f} MB, {n_files} files in {tb.seconds:.1f} s")
        base, seen, shutdown = serve(archive)
        try:
            with Timer() as tf:
                r = fetch("fsdd", work / "run1", url=f"{base}/{archive.name}", sha256=digest, quiet=True)
            dl = r.download
            log(f"fetched in {tf.seconds:.2f} s (download {dl.seconds:.2f} s)")

            # resume: the first attempt is cut off half way, the second carries on with a Range request
            seen.clear()
            first_error = None
            try:
                fetch("fsdd", work / "run2", url=f"{base}/drop/{archive.name}", sha256=digest, quiet=True)
            except DataError as exc:
                first_error = str(exc)
            part = work / "run2" / (archive.name + ".part")
            kept = part.stat().st_size if part.exists() else 0
            r2 = fetch("fsdd", work / "run2", url=f"{base}/{archive.name}", sha256=digest, quiet=True)
            range_seen = [rng for path, rng in seen if not path.startswith("/drop/")]
        finally:
            shutdown()
        emit({
            "benchmark": "fetch_speed", "python": platform.python_version(),
            "archive_mb": round(size / 1e6, 1), "archive_files": n_files,
            "download_seconds": round(dl.seconds, 3), "download_mb_per_s": round(size / 1e6 / dl.seconds, 1),
            "target_mb_per_s": 50,
            "fetch_seconds": round(tf.seconds, 3),
            "fetch_mb_per_s": round(size / 1e6 / tf.seconds, 1),
            "sha256_checked": bool(dl.verified and dl.sha256 == digest),
            "manifests": {os.path.basename(str(p)): n for p, (n, _) in r.manifests.items()},
            "resume": {
                "first_attempt_error": first_error,
                "part_bytes_kept": kept,
                "range_header": range_seen[0] if range_seen else None,
                "resumed_from": r2.download.resumed_from,
                "bytes_downloaded_after_resume": r2.download.downloaded,
                "worked": bool(first_error and kept and r2.download.resumed_from == kept
                               and range_seen == [f"bytes={kept}-"] and r2.download.verified
                               and r2.download.sha256 == digest),
            },
        })
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

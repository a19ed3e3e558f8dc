"""Download a public speech corpus, check it, unpack it and write its manifests.

``hmmrec data fetch NAME DIR`` (:func:`fetch`) does four things, each of which can be
interrupted without leaving anything half done behind:

1. **Download** the corpus's archive (:func:`download`) into ``DIR/<archive>.part``,
   computing its SHA-256 as it streams, with a progress bar. A ``.part`` left by an
   interrupted download (Ctrl-C, SIGTERM, a dropped connection, a timeout) is resumed
   with an HTTP ``Range`` request; a server that ignores the range and sends the whole
   file again is read from the start. Only once the SHA-256 matches the known one is
   the ``.part`` renamed to the archive's name; on a mismatch it is deleted. An archive
   already there with the right hash is not downloaded again.
2. **Extract** it (:func:`extract_safely`) into a fresh hidden folder inside ``DIR``:
   member names that are absolute or contain ``..``, links that point outside, devices
   and the like are refused, and :mod:`tarfile`'s ``"data"`` filter is applied where
   Python has it (3.10.12+, 3.11.4+), so nothing is ever written outside ``DIR``.
3. **Write the manifests** (CSV ``path,label,speaker``, paths relative to the CSV, written
   with :func:`hmmrec.manifest.write_manifest`) from the corpus's *own* split, inside
   that hidden folder.
4. **Rename** the finished folder to ``DIR/<name>``: the corpus folder appears complete
   or not at all. (With ``force``, an existing one is replaced only at this point.)

The corpora (:data:`CORPORA`):

``speech_commands``
    Speech Commands v0.02 (Warden 2018, CC BY 4.0): 105,829 one-second clips of 35 words
    by 2,618 speakers, 16 kHz. Its ``validation_list.txt`` and ``testing_list.txt`` give
    the validation and test files, every other word file is training. Two layouts:

    * ``train_all35.csv``, ``validation_all35.csv``, ``test_all35.csv``: the 35 words as
      labels;
    * ``train.csv``, ``validation.csv``, ``test.csv``: the usual 12 classes: *yes no up
      down left right on off stop go* as themselves, all 25 other words as
      ``_unknown_`` (every file of them, none left out: subsample if you want fewer),
      and ``_silence_``: the six ``_background_noise_`` recordings cut into
      non-overlapping 1 s clips (the last, shorter piece dropped) written as WAV files
      (same sample rate and sample format) in ``_silence_/<recording>_<n>.wav``. The
      corpus's lists do not cover them, so clip ``n`` of each recording goes to
      validation when ``n % 10 == 8``, to test when ``n % 10 == 9``, else to training
      (80/10/10, like the words). Silence clips have no speaker.

    The speaker of a word file is the part of its name before ``_nohash_``.

``fsdd``
    Free Spoken Digit Dataset v1.0.9 (Jackson et al., CC BY-SA 4.0): ``recordings/
    {digit}_{speaker}_{take}.wav`` at 8 kHz. ``train.csv`` holds takes 5 and above and
    ``test.csv`` takes 0-4, the split the corpus documents.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import socket
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from . import __version__
from .errors import DataError
from .labels import UNKNOWN
from .manifest import ManifestRow, rows_from_pattern, split_rows, write_manifest

__all__ = ["CorpusInfo", "CORPORA", "FetchResult", "DownloadResult", "fetch", "download", "extract_safely",
           "sha256_of", "SPEECH_COMMANDS_SHA256", "SPEECH_COMMANDS_SIZE", "FSDD_SHA256", "FSDD_SIZE"]

# The published checksums of the official archives. Both come from TensorFlow Datasets'
# checksum files (speech_commands: tensorflow_datasets/url_checksums/speech_commands.txt, also
# torchaudio's datasets/speechcommands.py; fsdd: tensorflow_datasets/datasets/spoken_digit/
# checksums.tsv). None would mean "not known": such a corpus can only be fetched with --sha256.
SPEECH_COMMANDS_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
SPEECH_COMMANDS_SIZE = 2_428_923_189
# FSDD v1.0.9 (5 speakers, 2,500 recordings), the release whose tarball hash is published.
# v1.0.10 (6 speakers, 3,000 recordings) has no published hash we could check: fetch it with
# --url https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz
# --sha256 HEX (the HEX you have verified yourself).
FSDD_SHA256 = "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0"
FSDD_SIZE = 11_975_353

SPEECH_COMMANDS_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
CHUNK = 1 << 20  # bytes read and hashed at a time
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_EXTRACT_PREFIX = ".hmmrec-extract-"
_OLD_PREFIX = ".hmmrec-replaced-"


@dataclass(frozen=True)
class CorpusInfo:
    """What :func:`fetch` knows of a corpus: where it is, how to check it, whose it is."""

    name: str
    title: str
    url: str
    archive: str  # file name of the downloaded archive in DIR
    sha256: str | None  # published SHA-256 of the archive at ``url`` (None: unknown, --sha256 needed)
    size: int | None  # its size in bytes
    marker: str  # a file or folder at the top of the corpus, to find it in the unpacked archive
    licence: str
    attribution: str
    homepage: str


CORPORA: dict[str, CorpusInfo] = {
    "speech_commands": CorpusInfo(
        name="speech_commands", title="Speech Commands v0.02",
        url="http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        archive="speech_commands_v0.02.tar.gz", sha256=SPEECH_COMMANDS_SHA256, size=SPEECH_COMMANDS_SIZE,
        marker="testing_list.txt", licence="CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
        attribution="Pete Warden (2018), Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition, "
                    "arXiv:1804.03209",
        homepage="https://www.tensorflow.org/datasets/catalog/speech_commands"),
    "fsdd": CorpusInfo(
        name="fsdd", title="Free Spoken Digit Dataset v1.0.9",
        url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",
        archive="free-spoken-digit-dataset-1.0.9.tar.gz", sha256=FSDD_SHA256, size=FSDD_SIZE,
        marker="recordings", licence="CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)",
        attribution="Zohar Jackson, César Souza, Jason Flaks, Yuxin Pan, Hereman Nicolas, Adhish Thite (2018), "
                    "Jakobovski/free-spoken-digit-dataset, Zenodo, doi:10.5281/zenodo.1342401",
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset"),
}


@dataclass
class DownloadResult:
    """What :func:`download` did."""

    path: Path  # the verified archive
    sha256: str
    size: int
    downloaded: int = 0  # bytes received in this run (0: the archive was already there)
    resumed_from: int = 0  # bytes of a previous .part kept (a Range request resumed from here)
    seconds: float = 0.0
    verified: bool = True  # the SHA-256 matched the expected one (always, or download raises)


@dataclass
class FetchResult:
    """What :func:`fetch` did: the corpus, its archive, its folder, its manifests."""

    corpus: CorpusInfo
    url: str
    download: DownloadResult
    folder: Path
    manifests: dict = field(default_factory=dict)  # Path -> (files, labels)
    seconds: float = 0.0


# -- helpers ------------------------------------------------------------------------------------------------
def sha256_of(path, chunk: int = CHUNK) -> str:
    """The SHA-256 of a file, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _check_hex(sha256: str) -> str:
    s = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", s):
        raise DataError(f"{sha256!r} is not a SHA-256 (64 hexadecimal digits)")
    return s


def archive_name(corpus: CorpusInfo, url: str | None) -> str:
    """The file name the archive gets in DIR: the corpus's own, or for a mirror the URL's last
    part when that is an archive's name (a GitHub tag archive ``v1.0.10.tar.gz`` is prefixed with
    the corpus name)."""
    if not url or url == corpus.url:
        return corpus.archive
    base = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not base.lower().endswith(_ARCHIVE_SUFFIXES) or base.startswith("."):
        return corpus.archive
    return f"{corpus.name}-{base}" if re.match(r"v?\d", base) else base


def _network_error(url: str, exc: BaseException) -> DataError:
    """One line for an error of urllib/http.client/socket."""
    if isinstance(exc, urllib.error.HTTPError):
        return DataError(f"cannot download {url}: HTTP {exc.code} {exc.reason}")
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        text = "timed out"
    elif isinstance(reason, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(reason, socket.gaierror):
        text = f"cannot resolve the host name ({reason.strerror or reason})"
    elif isinstance(reason, OSError) and reason.strerror:
        text = reason.strerror[0].lower() + reason.strerror[1:]
    else:
        text = str(reason) or type(reason).__name__
    return DataError(f"cannot download {url}: {text}")


def _open_part(path: Path) -> tuple[int, int]:
    """A file descriptor for appending to ``path`` (a ``.part``), created exclusively if absent
    and never through a symbolic link, locked against a second hmmrec downloading into it at
    the same time; and its current size."""
    flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise DataError(f"{path}: cannot open the partial download ({exc.strerror})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DataError(f"{path}: not a regular file; remove it")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        return fd, st.st_size
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DataError(f"{path}: another download into it is running") from None
    return fd, st.st_size


def _write_all(out, block: bytes, path: Path) -> None:
    view = memoryview(block)
    try:
        while view:
            view = view[out.write(view):]
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc}); run the same command again to resume") from None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/N`` (or ``bytes */N``) header."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    return (int(m.group(1)) if m.group(1) else None), (int(m.group(2)) if m.group(2) != "*" else None)


def _progress_bar(total, initial: int, desc: str, quiet: bool):
    from .progress import progress_bar

    return progress_bar(total, desc, "B", quiet, initial=initial, unit_scale=True, unit_divisor=1024)


# -- download -----------------------------------------------------------------------------------------------
def download(url: str, dest, sha256: str, size: int | None = None, quiet: bool = False, timeout: float = 60.0,
             log: Callable[[str], None] | None = None) -> DownloadResult:
    """Download ``url`` to ``dest``, verified against ``sha256``.

    The bytes go to ``dest.part`` (created exclusively, never through a link), hashed as they
    arrive; a ``.part`` already there is resumed with ``Range: bytes=N-`` (a ``200`` answer
    instead of ``206`` means the server ignores ranges: the file is read again from the start).
    A complete download whose hash matches is renamed to ``dest``; one that does not is
    deleted. ``dest`` already present with the right hash is not downloaded again.

    Raises
    ------
    DataError
        One line: the network error (HTTP status, connection refused, time-out, connection
        lost: the ``.part`` is then kept, to resume), or the hash mismatch (expected and actual).
    """
    dest = Path(dest)
    expected = _check_hex(sha256)
    say = log or (lambda msg: None)
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DataError(f"cannot download {url}: only http://, https:// and file:// URLs are supported")
    t0 = time.perf_counter()
    if dest.is_file() and not dest.is_symlink():
        actual = sha256_of(dest)
        if actual == expected:
            say(f"{dest} is already here and its SHA-256 matches: not downloading it again")
            return DownloadResult(dest, actual, dest.stat().st_size, seconds=time.perf_counter() - t0)
        say(f"{dest} is already here but its SHA-256 is {actual}, not {expected}: downloading it again")
    part = dest.with_name(dest.name + ".part")
    fd, offset = _open_part(part)
    hasher = hashlib.sha256()
    received = 0
    with os.fdopen(fd, "ab", buffering=0) as out:  # unbuffered: what was received is on disk, to resume
        if offset and size is not None and offset > size:
            say(f"{part} is larger than the archive: starting again")
            out.truncate(0)
            offset = 0
        if offset:  # hash what is already there, to carry on from it
            with open(part, "rb") as old:
                while block := old.read(CHUNK):
                    hasher.update(block)
        resumed_from = offset
        try:
            if offset and offset == size and hasher.copy().hexdigest() == expected:
                resp, total = None, size  # complete already (interrupted just before the rename)
            else:
                resp, offset, total = _request(url, offset, size, timeout, say)
        except BaseException:
            if not offset:
                with contextlib.suppress(OSError):
                    if part.stat().st_size == 0:
                        part.unlink()
            raise
        if offset == 0 and resumed_from:  # the server sent everything: begin again cleanly
            out.seek(0)
            out.truncate(0)
            hasher = hashlib.sha256()
            resumed_from = 0
        elif resumed_from:
            say(f"resuming {part} from byte {resumed_from:,}")
        if resp is not None:
            bar = _progress_bar(total or size, offset, dest.name, quiet)
            read = getattr(resp, "read1", resp.read)  # what has arrived, not a whole chunk: progress, resume
            try:
                with resp, bar:
                    while True:
                        try:
                            block = read(CHUNK)
                        except (socket.timeout, TimeoutError):
                            raise DataError(f"download of {url} timed out after {_megabytes(offset + received)}; "
                                            f"run the same command again to resume") from None
                        except (OSError, http.client.HTTPException) as exc:
                            raise DataError(f"download of {url} interrupted after {_megabytes(offset + received)} "
                                            f"({type(exc).__name__}); run the same command again to resume") from None
                        if not block:
                            break
                        _write_all(out, block, part)
                        hasher.update(block)
                        received += len(block)
                        bar.update(len(block))
            except KeyboardInterrupt:
                print(f"partial download kept in {part} ({_megabytes(offset + received)}); run the same command "
                      f"again to resume", file=sys.stderr)
                raise
        done = offset + received
        if total is not None and done < total:
            raise DataError(f"download of {url} interrupted: connection closed after {done:,} of {total:,} bytes; "
                            f"run the same command again to resume")
    actual = hasher.hexdigest()
    if actual != expected:
        with contextlib.suppress(OSError):
            part.unlink()
        raise DataError(f"{url}: SHA-256 mismatch: expected {expected}, got {actual}; the download was deleted")
    os.replace(part, dest)
    return DownloadResult(dest, actual, done, downloaded=received, resumed_from=resumed_from,
                          seconds=time.perf_counter() - t0)


def _request(url: str, offset: int, size: int | None, timeout: float, say):
    """Open ``url`` from byte ``offset``: (response or None when nothing is left to read,
    the offset the response starts at, the archive's total size or None)."""
    headers = {"User-Agent": f"hmmrec/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing after byte offset: complete already, or a stale .part
            _, total = _content_range(exc.headers.get("Content-Range"))
            exc.close()
            if total == offset:
                return None, offset, total
            say("the partial download does not fit the archive on the server: starting again")
            return _request(url, 0, size, timeout, say)
        raise _network_error(url, exc) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_error(url, exc) from None
    status = getattr(resp, "status", None)
    length = resp.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if offset and status == 206:
        first, total = _content_range(resp.headers.get("Content-Range"))
        if first != offset:
            resp.close()
            say("the server answered another range than asked: starting again")
            return _request(url, 0, size, timeout, say)
        if total is None and length is not None:
            total = offset + length
        return resp, offset, total
    return resp, 0, length  # 200 (or a file:// URL): the whole archive


# -- extraction ---------------------------------------------------------------------------------------------
def _has_data_filter() -> bool:
    return hasattr(tarfile, "data_filter")


def _check_member(m: tarfile.TarInfo, archive: Path, allow_links: bool) -> None:
    """Refuse a member that could write outside the destination (or is not a plain file or folder)."""
    name = m.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise DataError(f"{archive}: refusing to extract {name!r}: it would be written outside the folder")
    if m.issym() or m.islnk():
        target = m.linkname.replace("\\", "/")
        base = PurePosixPath(*parts[:-1]) if m.issym() else PurePosixPath()
        depth = 0
        for piece in (base / target).parts if not target.startswith("/") else ("..",):
            depth += -1 if piece == ".." else (0 if piece == "." else 1)
            if depth < 0:
                break
        if depth < 0 or re.match(r"^[A-Za-z]:", target):
            raise DataError(f"{archive}: refusing to extract {name!r}: a link to {m.linkname!r}, outside the folder")
        if not allow_links:
            raise DataError(f"{archive}: refusing to extract the link {name!r} (this Python's tarfile has no "
                            f"safe extraction filter)")
    elif not (m.isfile() or m.isdir()):
        raise DataError(f"{archive}: refusing to extract {name!r}: not a regular file or folder")


def extract_safely(archive, dest, quiet: bool = False) -> None:
    """Unpack the tar archive ``archive`` into the existing folder ``dest``, never outside it.

    Every member is checked before it is written (:func:`_check_member`), and tarfile's
    ``"data"`` filter is applied too where Python has it (it also drops unsafe permission
    bits and resolves links against what is on disk). A refused member stops the extraction
    with a :class:`DataError`; the caller removes ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    safe_filter = _has_data_filter()
    total = archive.stat().st_size
    try:
        with open(archive, "rb") as raw:
            try:
                tar = tarfile.open(fileobj=raw, mode="r:*")
            except tarfile.ReadError:
                raise DataError(f"{archive}: not a tar archive (plain, gzip, bzip2 or xz)") from None
            with tar, _progress_bar(total, 0, f"extracting {archive.name}", quiet) as bar:
                for member in tar:
                    _check_member(member, archive, allow_links=safe_filter)
                    if safe_filter:
                        tar.extract(member, dest, set_attrs=not member.isdir(), filter="data")
                    else:
                        tar.extract(member, dest, set_attrs=False)
                    bar.update(raw.tell() - bar.n)
    except tarfile.TarError as exc:  # FilterError included
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{archive}: cannot extract ({first})") from None
    except (EOFError, OSError, zlib.error) as exc:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise DataError(f"{archive}: cannot extract ({what})") from None


def _find_root(tmp: Path, marker: str) -> Path:
    """The corpus's top folder in the unpacked archive: ``tmp`` itself, or the one folder in it
    (GitHub's tag archives put everything under ``<repo>-<version>/``)."""
    if (tmp / marker).exists():
        return tmp
    entries = [p for p in tmp.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() and (entries[0] / marker).exists():
        return entries[0]
    raise DataError(f"the archive does not look like this corpus: no {marker} at its top")


# -- manifests ----------------------------------------------------------------------------------------------
def _row(path: Path, label: str, speaker: str | None) -> ManifestRow:
    return ManifestRow(path, label, {"label": label, "speaker": speaker or ""})


def _silence_clips(root: Path) -> list[tuple[Path, int]]:
    """Cut every ``_background_noise_/*.wav`` into 1 s clips in ``_silence_/``: (clip, its number)."""
    import soundfile as sf

    noise = root / "_background_noise_"
    if not noise.is_dir():
        return []
    out_dir = root / SILENCE
    out_dir.mkdir(exist_ok=True)
    clips = []
    for src in sorted(noise.glob("*.wav")):
        try:
            info = sf.info(str(src))
            data, sr = sf.read(str(src), dtype="int16" if info.subtype == "PCM_16" else "float32", always_2d=False)
        except RuntimeError as exc:  # soundfile's errors
            raise DataError(f"{src}: cannot read the background noise ({exc})") from None
        for n in range(len(data) // sr):
            clip = out_dir / f"{src.stem}_{n:03d}.wav"
            sf.write(str(clip), data[n * sr:(n + 1) * sr], sr, subtype=info.subtype, format="WAV")
            clips.append((clip, n))
    return clips


def _read_list(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read the split list ({exc.strerror})") from None
    names = (line.strip() for line in text.splitlines())
    return {n[2:] if n.startswith("./") else n for n in names if n}


def speech_commands_manifests(root: Path) -> dict[str, list[ManifestRow]]:
    """The six manifests of Speech Commands (see the module's docstring), by file name."""
    validation = _read_list(root / "validation_list.txt")
    testing = _read_list(root / "testing_list.txt")
    rows = [r for r in rows_from_pattern(root, "{label}/{speaker}_nohash_{take}.wav")
            if not r.label.startswith((".", "_"))]
    if not rows:
        raise DataError(f"{root}: no word files (<word>/<speaker>_nohash_<n>.wav)")
    all35 = {"train": [], "validation": [], "test": []}
    twelve = {"train": [], "validation": [], "test": []}
    keywords = set(SPEECH_COMMANDS_KEYWORDS)
    for r in rows:
        rel = r.path.relative_to(root).as_posix()
        split = "validation" if rel in validation else "test" if rel in testing else "train"
        all35[split].append(_row(r.path, r.label, r.fields["speaker"]))
        twelve[split].append(_row(r.path, r.label if r.label in keywords else UNKNOWN, r.fields["speaker"]))
    for clip, n in _silence_clips(root):
        split = "validation" if n % 10 == 8 else "test" if n % 10 == 9 else "train"
        twelve[split].append(_row(clip, SILENCE, None))
    out = {f"{k}.csv": v for k, v in twelve.items()}
    out.update({f"{k}_all35.csv": v for k, v in all35.items()})
    return out


def fsdd_manifests(root: Path) -> dict[str, list[ManifestRow]]:
    """``train.csv`` (takes 5 and above) and ``test.csv`` (takes 0-4) of FSDD."""
    rows = rows_from_pattern(root / "recordings", "{label}_{speaker}_{take}.wav")
    train, test = split_rows(rows, test_takes=5)
    return {"train.csv": [_row(r.path, r.label, r.fields["speaker"]) for r in train],
            "test.csv": [_row(r.path, r.label, r.fields["speaker"]) for r in test]}


_MANIFESTS = {"speech_commands": speech_commands_manifests, "fsdd": fsdd_manifests}


# -- the whole job -------------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale(folder: Path, name: str) -> None:
    """Hidden folders of corpus ``name`` left by a run that was killed (SIGKILL, power loss)
    mid-extraction: those whose process (its id is in the name) is gone."""
    for p in folder.iterdir():
        m = re.fullmatch(rf"(?:{re.escape(_EXTRACT_PREFIX)}|{re.escape(_OLD_PREFIX)}){re.escape(name)}-(\d+)-.*",
                         p.name)
        if m and p.is_dir() and not p.is_symlink() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)


def fetch(name: str, folder, url: str | None = None, sha256: str | None = None, force: bool = False,
          quiet: bool = False, timeout: float = 60.0, log: Callable[[str], None] | None = None) -> FetchResult:
    """Download, check, unpack corpus ``name`` into ``folder/<name>`` and write its manifests.

    Parameters
    ----------
    name : str
        A key of :data:`CORPORA`.
    folder : path
        Where the archive and the corpus folder go (created if missing).
    url : str, optional
        A mirror (http://, https:// or file://); the archive is still checked against the
        known SHA-256 unless ``sha256`` is given.
    sha256 : str, optional
        The expected SHA-256 instead of the known one (a mirror of another version).
    force : bool
        Replace an existing ``folder/<name>`` (only once the new one is complete).
    quiet : bool
        No progress bars (they are also off when stderr is not a terminal) and no log lines.
    log : callable, optional
        Receives progress lines for a person (the command line prints them on stderr).

    Raises
    ------
    DataError
        Unknown corpus, existing corpus folder, network error, checksum mismatch, an
        unsafe or unexpected archive. Nothing half-extracted is ever left behind.
    """
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    corpus = CORPORA[name]
    say = (lambda msg: None) if quiet or log is None else log
    t0 = time.perf_counter()
    root_dir = Path(folder)
    target = root_dir / corpus.name
    if (target.exists() or target.is_symlink()) and not force:
        raise DataError(f"{target}: already exists; not overwriting the corpus (use --force to replace it)")
    expected = _check_hex(sha256) if sha256 else corpus.sha256
    if not expected:
        raise DataError(f"no SHA-256 is known for {corpus.title}; pass --sha256 HEX (one you have checked)")
    url = url or corpus.url
    size = corpus.size if expected == corpus.sha256 else None
    try:
        root_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{root_dir}: cannot create the folder ({exc.strerror})") from None
    if not root_dir.is_dir():
        raise DataError(f"{root_dir}: not a folder")
    _remove_stale(root_dir, corpus.name)
    dest = root_dir / archive_name(corpus, url if url != corpus.url else None)
    say(f"downloading {corpus.title} from {url}" + (f" ({_megabytes(size)})" if size else ""))
    dl = download(url, dest, expected, size=size, quiet=quiet, timeout=timeout, log=say)
    say(f"extracting {dest.name}")
    tmp = Path(tempfile.mkdtemp(prefix=f"{_EXTRACT_PREFIX}{corpus.name}-{os.getpid()}-", dir=root_dir))
    old = None
    try:
        extract_safely(dest, tmp, quiet=quiet)
        root = _find_root(tmp, corpus.marker)
        say("writing the manifests")
        manifests = {}
        for fname, rows in _MANIFESTS[corpus.name](root).items():
            if rows:
                write_manifest(root / fname, rows)
            manifests[target / fname] = (len(rows), len({r.label for r in rows}))
        if target.exists() or target.is_symlink():  # force: swap the old one out only now
            old = Path(tempfile.mkdtemp(prefix=f"{_OLD_PREFIX}{corpus.name}-{os.getpid()}-", dir=root_dir))
            os.replace(target, old / corpus.name)
            try:
                os.replace(root, target)
            except BaseException:
                os.replace(old / corpus.name, target)  # put the old corpus back
                raise
        else:
            os.replace(root, target)
    except OSError as exc:  # disk full, permissions...: one line, and the clean-up below
        raise DataError(f"{target}: cannot unpack the corpus ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    manifests = {p: v for p, v in manifests.items() if v[0]}
    return FetchResult(corpus, url, dl, target, manifests, seconds=time.perf_counter() - t0)

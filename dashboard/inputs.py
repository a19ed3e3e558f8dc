"""Audio the pages work on: files on the server, uploads and browser recordings, as clips
at the model's rate; the built-in corpus's folders; truth lists next to stream recordings.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmmrec import audio
from hmmrec.cli.dashboard import MAX_UPLOAD_MB  # what 'hmmrec dashboard' tells Streamlit (server.maxUploadSize)
from hmmrec.errors import HmmrecError

DASHBOARD = Path(__file__).resolve().parent
REPO = DASHBOARD.parent
SOUNDS = REPO / "sounds"
MAX_CLIP_S = 30.0  # the Recognize page takes one word (or a short phrase)
MAX_STREAM_S = 600.0  # the Stream page takes recordings up to 10 minutes
MAX_LISTED_FILES = 5000
MAX_WALK_DEPTH = 4  # folders below the one chosen that are searched for audio files
MAX_WALKED = 50000  # directory entries looked at, at most, to list one folder
DATA_ENV = "HMMREC_DASHBOARD_DATA"
# file endings the upload widgets accept
UPLOAD_TYPES = sorted(s.lstrip(".") for s in audio.SUFFIXES)
AUDIO_INPUT_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass
class Clip:
    """A signal at the model's rate, and what to call it."""

    y: np.ndarray
    sr: int
    name: str

    @property
    def duration_s(self) -> float:
        return len(self.y) / self.sr

    def wav(self) -> bytes:
        """The clip as 16-bit WAV bytes at its own level, for the page's player. (Handed a
        float array, Streamlit scales it to full scale: a quiet take played loud, and a
        silent one, divided by its zero peak, played as noise.)"""
        buf = io.BytesIO()
        audio.encode_wav(buf, self.y, self.sr)
        return buf.getvalue()


def _too_long(name: str, seconds: float, max_s: float) -> HmmrecError:
    return HmmrecError(f"{name} is {seconds:.1f} s long; this page takes recordings up to {max_s:.0f} s"
                       + (" (use the Stream page for long recordings)" if max_s <= MAX_CLIP_S else ""))


def read_path(path, sr: int, max_s: float = MAX_CLIP_S, name: str | None = None) -> Clip:
    """A WAV file as a :class:`Clip`; :class:`HmmrecError` with a readable message if unusable."""
    name = name or Path(path).name
    try:
        wi = audio.info(path)
        if wi.duration_s > max_s:
            raise _too_long(name, wi.duration_s, max_s)
        y, sr = audio.load(path, sr, max_s=max_s)
    except HmmrecError as exc:
        raise HmmrecError(str(exc).replace(str(path), name)) from None
    if not len(y):
        raise HmmrecError(f"{name}: contains no audio samples")
    return Clip(y, sr, name)


def read_upload(uploaded, sr: int, max_s: float = MAX_CLIP_S) -> Clip:
    """An uploaded or recorded file (Streamlit ``UploadedFile``) as a :class:`Clip`."""
    data = uploaded.getvalue()
    name = uploaded.name or "recording.wav"
    if not data:
        raise HmmrecError(f"{name}: the file is empty")
    if len(data) > MAX_UPLOAD_MB * 2**20:  # also when the server was started without the launcher's limit
        raise HmmrecError(f"{name}: larger than {MAX_UPLOAD_MB} MB, the most an upload may be here")
    suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in audio.SUFFIXES else ".wav"
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="hmmrec-upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return read_path(tmp, sr, max_s, name=name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def upload_key(uploaded) -> str:
    """A stable identity of an uploaded file (for per-session result caches)."""
    return "upload:" + hashlib.sha1(uploaded.getvalue()).hexdigest()


def launch_option(option: str) -> list[str]:
    """Every value of ``option`` (``--data``...) given after ``--`` on the ``streamlit run``
    line, as ``hmmrec dashboard`` passes them; none if it ends without a value."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument(option, action="append", default=[], dest="values")
    try:
        return parser.parse_known_args(sys.argv[1:])[0].values
    except SystemExit:  # the option without a value
        return []


def data_roots() -> list[Path]:
    """The folders this dashboard may read data from: the built-in corpus, the folders
    given with ``hmmrec dashboard --data DIR`` (``--data`` after ``--`` on the
    ``streamlit run`` line) and those in $HMMREC_DASHBOARD_DATA (separated by ``:``).
    Nothing outside them is listed or opened, whatever a visitor types."""
    given = launch_option("--data") + [d for d in os.environ.get(DATA_ENV, "").split(os.pathsep) if d]
    roots = [SOUNDS] + [Path(d).expanduser() for d in given]
    return list(dict.fromkeys(r.resolve() for r in roots if r.is_dir()))


def allowed_path(path, roots: list[Path] | None = None) -> Path:
    """``path`` (links resolved) if it lies inside one of ``roots`` (default
    :func:`data_roots`), else a :class:`HmmrecError` that says which folders are open and
    how to add one."""
    p = Path(str(path)).expanduser()
    roots = data_roots() if roots is None else roots
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError):
        resolved = None
    if resolved is not None and any(resolved == r or r in resolved.parents for r in roots):
        return resolved
    raise HmmrecError(f"{path}: outside the data folders this dashboard may read ({', '.join(map(str, roots))}); "
                      "start it with 'hmmrec dashboard --data DIR' to open another")


def load_allowed_corpus(path):
    """:func:`hmmrec.corpus.load_corpus` of a folder or manifest inside :func:`data_roots`,
    every file it lists inside them too (a manifest may name any path)."""
    from hmmrec.corpus import load_corpus

    roots = data_roots()
    corpus = load_corpus(allowed_path(path, roots))
    for u in corpus:
        allowed_path(u.path, roots)
    return corpus


def list_wavs(folder) -> list[str]:
    """Audio files under ``folder`` (relative paths, sorted), folder by folder in name
    order: at most MAX_LISTED_FILES files, MAX_WALK_DEPTH folders deep and MAX_WALKED
    entries looked at, so that no folder, however large, holds the page up."""
    root = Path(folder)
    out: list[str] = []
    seen = 0
    todo = [(root, 0)]
    while todo and len(out) < MAX_LISTED_FILES and seen < MAX_WALKED:
        here, depth = todo.pop(0)
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        seen += len(entries)
        subdirs = []
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if depth < MAX_WALK_DEPTH and not e.name.startswith("."):
                        subdirs.append((Path(e.path), depth + 1))
                elif e.is_file() and Path(e.name).suffix.lower() in audio.SUFFIXES:
                    out.append(str(Path(e.path).relative_to(root)))
            except OSError:
                continue
        todo = subdirs + todo  # depth first, in name order
    return sorted(out[:MAX_LISTED_FILES])


def sound_folders() -> list[str]:
    """Folders of the built-in corpus, as choices for file pickers."""
    return [str(SOUNDS / sub) for sub in ("test", "train", "streams") if (SOUNDS / sub).is_dir()]

"""The dashboard's models: the one given on the command line or the built-in one, the
shipped ones, the ones kept in the store folder (trained here or uploaded), the picker in
the sidebar, and training with a progress bar. Also the store folder itself, where the
Teach page keeps its takes.

The store folder (:func:`store_root`) is ``$HMMREC_DASHBOARD_STORE``, else
``$XDG_DATA_HOME/hmmrec/dashboard`` (``~/.local/share/hmmrec/dashboard``)::

    models/<name>.model     models trained on the Teach and Train pages, and uploaded ones
    takes/<word>/<n>.wav    the Teach page's takes, trimmed, 16-bit PCM

Everything in it is written atomically (:func:`hmmrec.safefile.write_atomically`) and
outlives the server: a new browser session lists what is there. Models are read-only and
shared by all sessions through ``st.cache_resource``; a model this session trained is also
kept in its ``st.session_state`` (when it could not be stored, only there).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import inputs
from hmmrec import HMMRecognizer, audio
from hmmrec.corpus import load_corpus
from hmmrec.errors import HmmrecError
from hmmrec.safefile import write_atomically
from ui import md

MODEL_ENV = "HMMREC_DASHBOARD_MODEL"
CACHE_MARK = "hmmrec-dashboard:sounds/train"
BUILTIN_MODEL_PARAMS = {"n_jobs": 1}  # hmmrec's defaults otherwise (one process: the server stays responsive)


@dataclass
class ModelInfo:
    """The recognizer a page shows, and where it came from."""

    rec: HMMRecognizer
    key: str  # identifies the model in per-session result caches
    name: str
    source: str


def model_path_argument() -> str | None:
    """``--model PATH`` after ``--`` on the ``streamlit run`` line, else $HMMREC_DASHBOARD_MODEL."""
    given = inputs.launch_option("--model")
    return (given[-1] if given else None) or os.environ.get(MODEL_ENV) or None


def cache_file() -> Path:
    """Where the model of the built-in ``sounds/`` is kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hmmrec" / "sounds.model"


def _corpus_fingerprint(folder: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*.wav")):
        h.update(f"{p.relative_to(folder)}:{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def _builtin_stamp(train_dir: Path) -> dict:
    """What a cached built-in model must have been made from: these files, this hmmrec, these settings.

    A model cached by an older hmmrec (other defaults) is trained anew, not shown stale.
    """
    from hmmrec import __version__

    params = {k: v for k, v in HMMRecognizer(**BUILTIN_MODEL_PARAMS).get_params().items()
              if k not in ("n_jobs", "verbose", "feature_config")}
    stamp = {"mark": CACHE_MARK, "fingerprint": _corpus_fingerprint(train_dir), "hmmrec": __version__,
             "params": params}
    return json.loads(json.dumps(stamp))  # as it reads back from a model file (tuples are lists)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model_file(path: str, mtime: float) -> HMMRecognizer:
    """A model file, read once per (path, modification time) for all sessions."""
    return HMMRecognizer.load(path)


@st.cache_resource(show_spinner="Preparing word models for the built-in sounds/ "
                                 "(the first time this trains them: up to a minute or two)…")
def builtin_model() -> tuple[HMMRecognizer, str]:
    """A model of ``sounds/train``: from the user cache file if it is ours and current, else trained."""
    train_dir = inputs.SOUNDS / "train"
    if not train_dir.is_dir():
        raise HmmrecError(f"{train_dir}: not found; start the dashboard with --model PATH")
    stamp = _builtin_stamp(train_dir)
    cf = cache_file()
    ours = not cf.exists()
    if cf.exists():
        try:
            rec = HMMRecognizer.load(cf)
        except HmmrecError:
            rec = None
        if rec is not None:
            mark = rec.training_summary_.get("dashboard")
            if mark == stamp:
                return rec, f"cached model {cf}"
            ours = isinstance(mark, dict) and mark.get("mark") == CACHE_MARK
    corpus = load_corpus(train_dir)
    rec = HMMRecognizer(**BUILTIN_MODEL_PARAMS).fit(corpus.paths, corpus.y)
    rec.training_summary_["dashboard"] = stamp
    if not ours:
        return rec, (f"trained on {train_dir}; not cached, because {cf} is not a model file of ours "
                     "(remove it to cache one there)")
    try:
        cf.parent.mkdir(parents=True, exist_ok=True)
        rec.save(cf, overwrite=True)
    except (OSError, HmmrecError) as exc:
        return rec, f"trained on {train_dir} (not cached: {exc})"
    return rec, f"trained on {train_dir}, cached in {cf}"


def default_model() -> ModelInfo:
    """The model given on the command line (or in $HMMREC_DASHBOARD_MODEL: a path or a shipped
    model's name), else the shipped ``commands`` model of real speech, else one of ``sounds/``."""
    from hmmrec import models

    path = model_path_argument() or (models.DEFAULT if models.DEFAULT in models.names() else None)
    if path:
        p = models.resolve(Path(path).expanduser())
        mtime = p.stat().st_mtime if p.is_file() else 0.0
        rec = load_model_file(str(p), mtime)
        shipped = p.parent == models.path_of(models.DEFAULT).parent
        name = f"shipped model {p.stem}" if shipped else p.name
        source = models.SHIPPED[p.stem] if shipped and p.stem in models.SHIPPED else str(p)
        return ModelInfo(rec, f"file:{p}:{mtime}", name, source)
    rec, how = builtin_model()
    return ModelInfo(rec, f"builtin:{id(rec)}", "built-in sounds/ model", how)


SESSION_MODELS = "session_models"  # name -> ModelInfo trained in this session
MODEL_CHOICE = "model_choice"
NEXT_CHOICE = "model_choice_next"  # the picker's entry to select at the start of the next run
# a copy of the picker's entry outside the widget: Streamlit can drop a widget's state when
# a page switches to another (st.switch_page), and the session would fall back to the default
KEPT_CHOICE = "model_choice_kept"
STORE_WARNING = "store_warning"  # why the last model trained could not be stored (shown once, in the sidebar)
DEFAULT_CHOICE = "(default)"
SHIPPED_SUFFIX = " (shipped)"


# -- the store folder ---------------------------------------------------------------------
STORE_ENV = "HMMREC_DASHBOARD_STORE"
MODEL_SUFFIX = ".model"
MAX_STORED_MODELS = 200  # the picker lists at most this many stored models (the newest)
MAX_MODEL_UPLOAD_MB = inputs.MAX_UPLOAD_MB  # the launcher's limit on any upload (hmmrec dashboard)
MAX_NAME_CHARS = 80
_UNSAFE_NAME = re.compile(r"[^\w .+-]+")  # model names are file names: no slashes, colons, brackets...
TAKE_SR = 16000  # takes are kept at this rate
MAX_TAKE_WORDS = 50  # word folders listed, at most
MAX_TAKES_PER_WORD = 20


def store_root() -> Path:
    """The store folder: $HMMREC_DASHBOARD_STORE, else $XDG_DATA_HOME/hmmrec/dashboard
    (``~/.local/share/hmmrec/dashboard``)."""
    given = os.environ.get(STORE_ENV)
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "hmmrec" / "dashboard"


def models_folder() -> Path:
    return store_root() / "models"


def takes_folder() -> Path:
    return store_root() / "takes"


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HmmrecError(f"{folder}: cannot create the store folder ({exc.strerror or exc}); "
                          f"set ${STORE_ENV} to a writable folder") from None
    return folder


def _regular_files(folder: Path, suffix: str, limit: int) -> list[os.DirEntry]:
    """Regular files (not links, not hidden: temporary files begin with '.') of ``folder``
    ending in ``suffix``, the newest first, at most ``limit``."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if e.name.endswith(suffix) and not e.name.startswith(".")
                       and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
    return sorted(entries, key=lambda e: (-e.stat(follow_symlinks=False).st_mtime, e.name))[:limit]


def safe_name(text: str) -> str:
    """``text`` as a model name that is also a file name (and no picker entry of another kind)."""
    name = _UNSAFE_NAME.sub("-", str(text)).strip(" .-")[:MAX_NAME_CHARS].strip(" .-")
    return name or "model"


def stored_models() -> dict[str, Path]:
    """Models in the store folder, name -> path, the newest first (at most MAX_STORED_MODELS)."""
    return {e.name[: -len(MODEL_SUFFIX)]: Path(e.path)
            for e in _regular_files(models_folder(), MODEL_SUFFIX, MAX_STORED_MODELS)}


def _free_model_path(name: str) -> Path:
    folder = _make_folder(models_folder())
    base = safe_name(name)
    stem, n = base, 1
    while (folder / f"{stem}{MODEL_SUFFIX}").exists() or (folder / f"{stem}{MODEL_SUFFIX}").is_symlink():
        n += 1
        stem = f"{base[: MAX_NAME_CHARS - 4]}-{n}"
    return folder / f"{stem}{MODEL_SUFFIX}"


def store_model(rec: HMMRecognizer, name: str) -> Path:
    """Save a fitted model in the store folder under ``name`` (made unique); its path."""
    return rec.save(_free_model_path(name))


def store_model_file(data: bytes, name: str) -> tuple[Path, HMMRecognizer]:
    """Check the bytes of an uploaded model file with :meth:`HMMRecognizer.load` and keep
    them in the store folder; (path, model). A file that is not a valid model file is a
    :class:`~hmmrec.errors.ModelFileError` naming ``name`` (nothing is stored)."""
    import tempfile

    if len(data) > MAX_MODEL_UPLOAD_MB * 2**20:
        raise HmmrecError(f"{name}: larger than {MAX_MODEL_UPLOAD_MB} MB, the most a model file may be here")
    fd, tmp = tempfile.mkstemp(suffix=MODEL_SUFFIX, prefix="hmmrec-upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            rec = HMMRecognizer.load(tmp)
        except HmmrecError as exc:
            raise type(exc)(str(exc).replace(tmp, name)) from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    stem = Path(name).stem if Path(name).suffix.lower() == MODEL_SUFFIX else Path(name).name
    path = write_atomically(_free_model_path(stem), lambda fh: fh.write(data))
    return path, rec


def stored_model(name: str, path: Path) -> ModelInfo:
    """The stored model ``name`` (read once per modification time for all sessions)."""
    mtime = path.stat().st_mtime
    rec = load_model_file(str(path), mtime)
    return ModelInfo(rec, f"file:{path}:{mtime}", name, f"kept in {path}{_how_made(rec)}")


def _how_made(rec: HMMRecognizer) -> str:
    """What :func:`hmmrec.enroll.extend` says it did, if it made the model (any JSON may be
    there in an uploaded file: only lists are read)."""
    ext = rec.training_summary_.get("extended")
    if not isinstance(ext, dict):
        return ""
    lists = {k: v if isinstance(v, list) else [] for k in ("new_words", "adapted_words", "base_labels")
             for v in [ext.get(k)]}
    words = [str(w) for w in lists["new_words"] + lists["adapted_words"]]
    if not words:
        return ""
    shown = ", ".join(words[:10]) + (", …" if len(words) > 10 else "")
    return f" (takes of {shown} on top of a model of {len(lists['base_labels'])} labels)"


def keep_model(rec: HMMRecognizer, name: str, source: str) -> ModelInfo:
    """A model trained in this session: stored in the store folder (it survives a reload and
    is offered to every session), and kept in this session. If it cannot be stored, it is
    kept in this session only and a warning says why."""
    try:
        path = store_model(rec, name)
    except (HmmrecError, OSError) as exc:  # pages rerun after training: the sidebar says it
        st.session_state[STORE_WARNING] = f"{name} is kept in this browser session only: {exc}"
        return add_session_model(rec, name, source)
    info = add_session_model(rec, path.stem, f"{source}; kept in {path}")
    return info


def select_model_next_run(name: str) -> None:
    """Show the model ``name`` (a picker entry) on every page from the next run on (the
    picker is drawn before a page runs, so a page cannot set it directly)."""
    st.session_state[NEXT_CHOICE] = name


# -- takes ---------------------------------------------------------------------------------
def word_folder(word: str) -> Path:
    return takes_folder() / word


def take_path(word: str, n: int) -> Path:
    return word_folder(word) / f"{int(n)}.wav"


def stored_takes(word: str, n_max: int = MAX_TAKES_PER_WORD) -> dict[int, Path]:
    """Take number (1..n_max) -> file of the takes of ``word`` in the store folder."""
    out = {}
    for e in _regular_files(word_folder(word), ".wav", 10 * MAX_TAKES_PER_WORD):
        stem = e.name[:-4]
        if stem.isdigit() and 1 <= int(stem) <= n_max:
            out[int(stem)] = Path(e.path)
    return dict(sorted(out.items()))


def stored_words() -> list[str]:
    """Words with takes in the store folder, in name order (at most MAX_TAKE_WORDS)."""
    try:
        with os.scandir(takes_folder()) as it:
            names = sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return [w for w in names if stored_takes(w)][:MAX_TAKE_WORDS]


def save_take(word: str, n: int, y: np.ndarray, sr: int) -> Path:
    """Keep take ``n`` of ``word`` (replacing an earlier take ``n``: a redo)."""
    path = take_path(word, n)
    _make_folder(path.parent)
    try:
        mode = path.lstat().st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise HmmrecError(f"{path}: not a regular file; not replacing it")
    return write_atomically(path, lambda fh: audio.encode_wav(fh, y, sr), overwrite=True)


def takes_zip(words: list[str]) -> bytes:
    """The stored takes of ``words`` as a ZIP archive (``<word>/<n>.wav``), a folder-per-label
    tree that ``hmmrec train`` reads."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for word in words:
            for n, path in stored_takes(word).items():
                try:
                    z.writestr(f"{word}/{n}.wav", path.read_bytes())
                except OSError:
                    continue
    return buf.getvalue()


# -- the picker ------------------------------------------------------------------------------
def shipped_choices() -> list[str]:
    """The picker's entries for the models shipped with hmmrec."""
    from hmmrec import models

    return [name + SHIPPED_SUFFIX for name in models.names()]


def shipped_model(choice: str) -> ModelInfo:
    """The shipped model of a picker entry."""
    from hmmrec import models

    name = choice[: -len(SHIPPED_SUFFIX)]
    p = models.path_of(name)
    mtime = p.stat().st_mtime
    return ModelInfo(load_model_file(str(p), mtime), f"file:{p}:{mtime}", f"shipped model {name}",
                     models.SHIPPED[name])


def current_model(show_error: bool = True) -> ModelInfo | None:
    """The model this session looks at, or None (with an error shown) if there is none."""
    trained = st.session_state.get(SESSION_MODELS, {})
    choice = st.session_state.get(MODEL_CHOICE)
    if choice in trained:
        return trained[choice]
    try:
        if choice in shipped_choices():
            return shipped_model(choice)
        stored = stored_models()
        if choice in stored:
            return stored_model(choice, stored[choice])
        return default_model()
    except (HmmrecError, OSError) as exc:
        if show_error:
            st.error(f"No model to show: {exc}")
    return None


def require_model() -> ModelInfo:
    """The current model; stops the page with a message if there is none."""
    info = current_model()
    if info is None:
        st.info("Train one on the **Train & evaluate** page, or start the dashboard with `--model PATH`.")
        st.stop()
    return info


def add_session_model(rec: HMMRecognizer, name: str, source: str) -> ModelInfo:
    models = st.session_state.setdefault(SESSION_MODELS, {})
    info = ModelInfo(rec, f"session:{name}:{id(rec)}", name, source)
    models[name] = info
    return info


def choose_session_model(name: str) -> None:
    """Widget callback: show the session model ``name`` on every page."""
    st.session_state[MODEL_CHOICE] = name


def model_choices() -> list[str]:
    """The picker's entries: the default, the shipped models, the stored ones (newest
    first), then this session's models that are not stored."""
    stored = list(stored_models())
    session = [n for n in st.session_state.get(SESSION_MODELS, {}) if n not in stored]
    return [DEFAULT_CHOICE] + shipped_choices() + stored + session


def model_sidebar() -> None:
    """The model picker and a short description, in the sidebar."""
    options = model_choices()
    wanted = st.session_state.pop(NEXT_CHOICE, None)
    if wanted in options:
        st.session_state[MODEL_CHOICE] = wanted
    elif MODEL_CHOICE not in st.session_state and st.session_state.get(KEPT_CHOICE) in options:
        st.session_state[MODEL_CHOICE] = st.session_state[KEPT_CHOICE]  # (the widget's state was dropped)
    elif st.session_state.get(MODEL_CHOICE, DEFAULT_CHOICE) not in options:  # a stored model was removed
        st.session_state[MODEL_CHOICE] = DEFAULT_CHOICE
    with st.sidebar:
        if len(options) > 1:
            st.radio("Model", options, key=MODEL_CHOICE,
                     help="The default (given with --model, else the shipped commands model), the models shipped "
                          "with hmmrec (real speech of many speakers), and the models trained on the Teach words "
                          "and Train & evaluate pages or uploaded on the Teach words page, kept in "
                          f"{store_root()}.")
    st.session_state[KEPT_CHOICE] = st.session_state.get(MODEL_CHOICE, DEFAULT_CHOICE)
    info = current_model(show_error=False)  # loads (or trains) it, with the spinner on the page
    with st.sidebar:
        problem = st.session_state.pop(STORE_WARNING, None)
        if problem:
            st.warning(problem)
        if info is not None:
            rec = info.rec
            cfg = rec.feature_config_
            words = ", ".join(md(c) for c in rec.classes_)
            st.caption(f"**{md(info.name)}** · {len(rec.classes_)} labels: {words} · "
                       f"{cfg.n_features} features at {cfg.sr} Hz  \n{md(info.source)}")


def progress_events(progress):
    """A callback of :class:`~hmmrec.progress.TrainingProgress` events that calls
    ``progress(fraction, text)`` (a Streamlit progress bar's update)."""
    def on_step(event):
        progress(event.fraction, f"{event.message} · {event.seconds:.0f} s")

    return on_step


def fit_with_progress(rec: HMMRecognizer, X, y, progress, sample_weight=None) -> HMMRecognizer:
    """``rec.fit(X, y, sample_weight)`` with ``progress(fraction, text)`` calls from its
    :class:`~hmmrec.progress.TrainingProgress` events."""
    def on_step(event):
        then = " · discriminative training…" if event.stage == "model" and event.done == event.total and rec.mmi_iter else ""
        progress(event.fraction, f"{event.message} · {event.seconds:.0f} s{then}")

    progress(0.02, f"extracting features of {len(X)} files…")
    return rec.fit(X, y, sample_weight=sample_weight, progress=on_step)

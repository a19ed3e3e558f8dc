"""The dashboard's models: the one given on the command line or the built-in one, models
trained in this session, the picker in the sidebar, and training with a progress bar.

Models are read-only and shared by all sessions through ``st.cache_resource``; models a
session trains live in its ``st.session_state``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

import inputs
from hmmrec import HMMRecognizer
from hmmrec.corpus import load_corpus
from hmmrec.errors import HmmrecError
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
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model")
    try:
        ns, _ = parser.parse_known_args(sys.argv[1:])
    except SystemExit:  # "--model" without a value
        ns = argparse.Namespace(model=None)
    return ns.model or os.environ.get(MODEL_ENV) or None


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
DEFAULT_CHOICE = "(default)"
SHIPPED_SUFFIX = " (shipped)"


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


def model_sidebar() -> None:
    """The model picker and a short description, in the sidebar."""
    trained = st.session_state.get(SESSION_MODELS, {})
    with st.sidebar:
        options = [DEFAULT_CHOICE] + shipped_choices() + list(trained)
        if len(options) > 1:
            st.radio("Model", options, key=MODEL_CHOICE,
                     help="The default (given with --model, else the shipped commands model), the models shipped "
                          "with hmmrec (real speech of many speakers), and models trained on the Train & evaluate "
                          "page in this session.")
    info = current_model(show_error=False)  # loads (or trains) it, with the spinner on the page
    with st.sidebar:
        if info is not None:
            rec = info.rec
            cfg = rec.feature_config_
            words = ", ".join(md(c) for c in rec.classes_)
            st.caption(f"**{md(info.name)}** · {len(rec.classes_)} labels: {words} · "
                       f"{cfg.n_features} features at {cfg.sr} Hz  \n{md(info.source)}")




def fit_with_progress(rec: HMMRecognizer, X, y, progress, sample_weight=None) -> HMMRecognizer:
    """``rec.fit(X, y, sample_weight)`` with ``progress(fraction, text)`` calls from its
    :class:`~hmmrec.progress.TrainingProgress` events."""
    def on_step(event):
        then = " · discriminative training…" if event.stage == "model" and event.done == event.total and rec.mmi_iter else ""
        progress(event.fraction, f"{event.message} · {event.seconds:.0f} s{then}")

    progress(0.02, f"extracting features of {len(X)} files…")
    return rec.fit(X, y, sample_weight=sample_weight, progress=on_step)

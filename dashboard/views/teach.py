"""Teach words: record a few takes of each word with the browser's microphone, train on them
(alone, or on top of a shipped model of real speech), and try the new model at once.

Takes and models are kept in the store folder (:func:`modelstore.store_root`), so a reload
or another browser session finds them again.
"""

from __future__ import annotations

import re
from datetime import datetime

import altair as alt
import charts
import inputs
import modelstore
import pandas as pd
import streamlit as st
import streaming
from ui import md

from hmmrec import audio
from hmmrec import models as shipped
from hmmrec.enroll import extend
from hmmrec.errors import HmmrecError
from hmmrec.labels import is_keyword
from hmmrec.recognizer import DEFAULT_OWN_WEIGHT, HMMRecognizer
from hmmrec.record import PAD_S, speech_problem, trim_silence
from hmmrec.stream import DEFAULT_SENSITIVITY, recognize_and_judge

DEFAULT_TAKES = 5
MAX_WORDS = 12
MAX_TAKE_S = 10.0  # a take longer than this is refused (one word, a little silence around it)
# a take keeps this much of the recording before and after the word (hmmrec.record.trim_silence's
# pad_s): features are normalised over a whole utterance (a stream window: about a second), so a
# word is recognised best with about as much silence around it as its takes had; trying a word
# here trims it the same way (benchmarks/teach.py)
TAKE_PAD_S = PAD_S  # as 'hmmrec record' keeps
TAKES_PER_ROW = 5
TAKE_CHART_PX = 70
MAX_LISTED_MODELS = 12  # stored models listed with their download buttons (the newest)
TEACH_JOBS = 1  # one process: a few takes train in seconds, and worker processes take longer to start
WORD_RE = re.compile(r"[^\W_][\w' -]{0,39}")  # a word is a folder name: letters first, no slashes
TAKES_ALONE = "My takes alone"
ON_TOP = "On top of {} (shipped)"
NOT_A_WORD = "not one of my words"
STREAM_PAGE = "views/stream.py"

GEN = "teach_gen"  # bumped whenever takes or an upload are kept: the recorders start empty again
REDO = "teach_redo"  # word -> number of the take to record again
LAST = "teach_last"  # the last take kept: what was recorded and the part kept
FLASH = "teach_flash"  # messages for the next run: [(kind, text)]
TRAINED = "teach_trained"  # the picker entry of the model trained here, and how long it took


def parse_words(text: str) -> list[str]:
    """The words typed (comma-separated, lower case, each once, in order); HmmrecError if one is not usable."""
    words = []
    for raw in str(text).split(","):
        word = " ".join(raw.split()).lower()
        if not word:
            continue
        if not WORD_RE.fullmatch(word):
            raise HmmrecError(f"'{raw.strip()[:40]}' is not a word to teach: use letters, digits, spaces, ' and - "
                              "(up to 40 characters, beginning with a letter or digit)")
        if word not in words:
            words.append(word)
    if len(words) > MAX_WORDS:
        raise HmmrecError(f"{len(words)} words: teach at most {MAX_WORDS} at a time")
    return words


def flash(kind: str, text: str) -> None:
    st.session_state.setdefault(FLASH, []).append((kind, text))


def take_chart(y, sr: int, span: tuple[float, float] | None = None, height: int = TAKE_CHART_PX) -> alt.Chart:
    """A small waveform; ``span`` (start, end in seconds): the part kept, shaded."""
    env = charts.envelope(y, sr)
    peak = float(max(abs(env["lo"].min()), env["hi"].max(), 1e-3)) if len(env) else 1.0
    wave = alt.Chart(env).mark_area(color=charts.WAVE_COLOR, opacity=0.85).encode(
        x=alt.X("t:Q", title=None, scale=alt.Scale(domain=[0, len(y) / sr], nice=False),
                axis=alt.Axis(format=".1f", grid=False)),
        y=alt.Y("lo:Q", axis=None, scale=alt.Scale(domain=[-peak, peak])), y2="hi:Q")
    if span is None:
        return wave.properties(height=height)
    kept = alt.Chart(pd.DataFrame({"start": [span[0]], "end": [span[1]]})).mark_rect(
        color=charts.WINNER_COLOR, opacity=0.15).encode(x="start:Q", x2="end:Q",
                                                        tooltip=[alt.Tooltip("start:Q", format=".2f"),
                                                                 alt.Tooltip("end:Q", format=".2f")])
    return (kept + wave).properties(height=height)


def ask_redo(word: str, n: int) -> None:
    st.session_state.setdefault(REDO, {})[word] = n


def cancel_redo(word: str) -> None:
    st.session_state.setdefault(REDO, {}).pop(word, None)


def keep_takes(word: str, recordings: list, slots: list[int]) -> None:
    """Check, trim and keep each recording as the next take of ``slots``; a message per refused one."""
    for up in recordings:
        name = getattr(up, "name", None) or "recording.wav"
        if not slots:
            flash("warning", f"{name}: not kept, every take of '{word}' is recorded (press Redo on one to replace it)")
            continue
        try:
            clip = inputs.read_upload(up, modelstore.TAKE_SR, MAX_TAKE_S)
        except HmmrecError as exc:
            flash("error", f"Take of '{word}' not kept: {exc}")
            continue
        problem = speech_problem(clip.y, clip.sr)
        if problem is not None:
            flash("error", f"Take {slots[0]} of '{word}' not kept: {problem}. Record it again.")
            continue
        y, start, end = trim_silence(clip.y, clip.sr, pad_s=TAKE_PAD_S)
        n = slots.pop(0)
        try:
            modelstore.save_take(word, n, y, clip.sr)
        except HmmrecError as exc:
            flash("error", f"Take {n} of '{word}' not kept: {exc}")
            continue
        cancel_redo(word)
        st.session_state[LAST] = {"word": word, "n": n, "y": clip.y, "sr": clip.sr, "span": (start, end)}
    st.session_state[GEN] = st.session_state.get(GEN, 0) + 1  # the recorders and uploaders start empty again
    st.rerun()


def word_section(word: str, n_takes: int) -> None:
    takes = modelstore.stored_takes(word, n_takes)
    redo = st.session_state.get(REDO, {}).get(word)
    if redo is not None and redo > n_takes:
        cancel_redo(word)
        redo = None
    missing = [k for k in range(1, n_takes + 1) if k not in takes]
    slots = ([redo] if redo is not None else []) + [k for k in missing if k != redo]
    gen = st.session_state.get(GEN, 0)
    with st.container(border=True):
        done = ":material/check_circle:" if not missing else ""
        st.markdown(f"**{md(word)}** · {len(takes)} of {n_takes} takes {done}")
        numbers = list(takes)
        for row in range(0, len(numbers), TAKES_PER_ROW):
            cols = st.columns(TAKES_PER_ROW)
            for col, n in zip(cols, numbers[row: row + TAKES_PER_ROW]):
                with col:
                    try:
                        y, sr = audio.load(takes[n], modelstore.TAKE_SR, max_s=MAX_TAKE_S)
                    except HmmrecError as exc:
                        st.caption(f"take {n}: {md(exc)}")
                        continue
                    charts.show_chart(take_chart(y, sr), key=f"teach_chart:{word}:{n}:{gen}")
                    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                        st.caption(f"{n} · {len(y) / sr:.2f} s")
                        st.button("Redo", key=f"teach_redo:{word}:{n}", icon=":material/replay:", type="tertiary",
                                  on_click=ask_redo, args=(word, n), disabled=redo == n,
                                  help=f"Record take {n} of '{word}' again")
        last = st.session_state.get(LAST)
        if last is not None and last["word"] == word and last["n"] in takes:
            a, b = last["span"]
            st.caption(f"Take {last['n']} as recorded ({len(last['y']) / last['sr']:.2f} s): kept from {a:.2f} to "
                       f"{b:.2f} s (shaded), the word and {TAKE_PAD_S:g} s either side")
            charts.show_chart(take_chart(last["y"], last["sr"], span=(a, b), height=90),
                              key=f"teach_last:{word}:{gen}")
        if not slots:
            return
        target = slots[0]
        again = " again" if redo is not None else ""
        c1, c2 = st.columns([3, 2])
        with c1:
            up = st.audio_input(f"Take {target} of {n_takes}{again}: say “{word}”", sample_rate=modelstore.TAKE_SR,
                                key=f"teach_mic:{word}:{gen}",
                                help="Press the microphone, say the word once, press stop. The silence around "
                                     "the word is cut off.")
            if redo is not None:
                st.button("Keep the old take", key=f"teach_cancel:{word}", on_click=cancel_redo, args=(word,),
                          type="tertiary", icon=":material/undo:")
        with c2:
            files = st.file_uploader(f"…or upload recordings of “{word}”", type=inputs.UPLOAD_TYPES,
                                     accept_multiple_files=True, key=f"teach_upload:{word}:{gen}",
                                     help="One word per file; each becomes the next take")
        recordings = ([up] if up is not None else []) + list(files or [])
        if recordings:
            keep_takes(word, recordings, slots)


def train(words: list[str], n_takes: int, base_choice: str | None, own_weight: int) -> None:
    """Train on the stored takes of ``words``, alone (``base_choice`` None) or on top of a
    shipped model (its picker entry); keep the model and show it on every page."""
    X, y = [], []
    for word in words:
        for path in modelstore.stored_takes(word, n_takes).values():
            X.append(str(path))
            y.append(word)
    alone = base_choice is None
    if alone and len(words) < 2:
        st.error("Teach at least two words to train on your takes alone (or train on top of a shipped model).")
        return
    bar = st.progress(0.0, text="starting…")
    started = datetime.now()

    def progress(fraction, text):
        bar.progress(min(max(fraction, 0.0), 1.0), text=text)

    try:
        if alone:
            rec = modelstore.fit_with_progress(HMMRecognizer(n_jobs=TEACH_JOBS), X, y, progress)
            how, name = f"your {len(X)} takes", "+".join(words)
        else:
            base = modelstore.shipped_model(base_choice)
            progress(0.02, f"extracting features of {len(X)} takes…")
            rec = extend(base.rec, X, y, int(own_weight), n_jobs=TEACH_JOBS,
                         progress=modelstore.progress_events(progress))
            base_name = base.name.removeprefix("shipped model ")
            how = f"your {len(X)} takes (each counted {int(own_weight)} times) on top of {base_name}"
            name = "+".join(words) + f" on {base_name}"
    except HmmrecError as exc:
        bar.empty()
        st.error(f"Training failed: {exc}")
        return
    seconds = (datetime.now() - started).total_seconds()
    info = modelstore.keep_model(rec, f"{name} {started:%Y-%m-%d %H.%M.%S}", f"taught here: {how}")
    modelstore.select_model_next_run(info.name)
    st.session_state[TRAINED] = {"name": info.name, "seconds": seconds, "how": how}
    st.rerun()


def try_section() -> None:
    """Recognise one more take with the current model, and the way to live mode."""
    info = modelstore.current_model()
    if info is None:
        return
    rec = info.rec
    words = [str(c) for c in rec.classes_ if is_keyword(c)]
    st.markdown(f"Model **{md(info.name)}**: {', '.join(md(w) for w in words)}"
                + (f" (and {len(rec.classes_) - len(words)} non-keyword labels)" if len(words) < len(rec.classes_)
                   else ""))
    gen = st.session_state.get(GEN, 0)
    c1, c2 = st.columns([3, 2])
    up = c1.audio_input("Say one of the words", sample_rate=modelstore.TAKE_SR, key=f"teach_try:{gen}")
    file = c2.file_uploader("…or upload one", type=inputs.UPLOAD_TYPES, key=f"teach_try_upload:{gen}")
    clip_source = up if up is not None else file
    if clip_source is not None:
        try:
            clip = inputs.read_upload(clip_source, rec.feature_config_.sr, MAX_TAKE_S)
            problem = speech_problem(clip.y, clip.sr)
            if problem is not None:
                raise HmmrecError(problem)
            y = trim_silence(clip.y, clip.sr, pad_s=TAKE_PAD_S)[0]  # as the takes were
            scores, verdict = recognize_and_judge(rec, y, DEFAULT_SENSITIVITY)  # and as the stream would
        except HmmrecError as exc:
            st.error(f"Cannot recognise this recording: {exc}")
        else:
            m1, m2 = st.columns([1, 2])
            if verdict.accepted:
                m1.metric("Recognised", scores.label)
                m2.progress(min(max(scores.confidence, 0.0), 1.0), text=f"confidence {scores.confidence:.0%}")
            else:
                m1.metric("Recognised", NOT_A_WORD)
                m2.caption(f"Closest: **{md(scores.label)}**, but the stream would not take it: {md(verdict.reason)}.")
    with st.container(horizontal=True):
        if st.button("Try it live", type="primary", icon=":material/mic:", key="teach_live",
                     help="The Stream page in live mode, with this model"):
            st.session_state[streaming.SOURCE_KEY] = streaming.SOURCE_LIVE
            st.switch_page(STREAM_PAGE)


def store_section() -> None:
    """The stored models (download, show), uploading a model, downloading the takes."""
    stored = modelstore.stored_models()
    st.caption(f"Kept on the server in `{modelstore.store_root()}` (set ${modelstore.STORE_ENV} to use another "
               "folder): `models/<name>.model` and `takes/<word>/<n>.wav`.")
    if stored:
        for name, path in list(stored.items())[:MAX_LISTED_MODELS]:
            try:
                st_ = path.stat()
            except OSError:
                continue
            c1, c2, c3 = st.columns([5, 1, 1], vertical_alignment="center")
            c1.markdown(f"**{md(name)}** · {st_.st_size / 1024:.0f} kB · "
                        f"{datetime.fromtimestamp(st_.st_mtime):%Y-%m-%d %H:%M}")
            c2.download_button("Download", data=path.read_bytes, file_name=path.name, mime="application/octet-stream",
                               key=f"teach_download:{name}", icon=":material/download:", on_click="ignore")
            c3.button("Show", key=f"teach_show:{name}", icon=":material/visibility:",
                      disabled=st.session_state.get(modelstore.MODEL_CHOICE) == name,
                      on_click=modelstore.choose_session_model, args=(name,), help="Show this model on every page")
        if len(stored) > MAX_LISTED_MODELS:
            st.caption(f"and {len(stored) - MAX_LISTED_MODELS} older ones (all in the sidebar's picker)")
    else:
        st.caption("No model stored yet.")
    gen = st.session_state.get(GEN, 0)
    up = st.file_uploader(f"Upload a model file (.model, up to {modelstore.MAX_MODEL_UPLOAD_MB} MB)", type=["model"],
                          max_upload_size=modelstore.MAX_MODEL_UPLOAD_MB, key=f"teach_model_upload:{gen}")
    if up is not None:
        try:
            path, rec = modelstore.store_model_file(up.getvalue(), up.name or "uploaded.model")
        except HmmrecError as exc:
            st.error(f"Not kept: {exc}")
        else:
            flash("success", f"Kept {up.name} as **{md(path.stem)}** ({len(rec.classes_)} labels); "
                             "it is in the sidebar's picker.")
            st.session_state[GEN] = gen + 1
            st.rerun()
    with_takes = modelstore.stored_words()
    if with_takes:
        st.download_button(f"Download the takes of {', '.join(with_takes)} (ZIP)",
                           data=lambda: modelstore.takes_zip(with_takes), file_name="hmmrec-takes.zip",
                           mime="application/zip", key="teach_download_takes", icon=":material/folder_zip:",
                           on_click="ignore", help="A folder per word: 'hmmrec train' reads it as it is")


# -- the page --------------------------------------------------------------------------------
st.title("Teach words")
st.caption("Type the words, record a few takes of each with your microphone, train, and try them. The takes "
           "and the models stay on the server and are here again after a reload.")

for kind, text in st.session_state.pop(FLASH, []):
    getattr(st, kind)(text)

if "teach_words" not in st.session_state:  # the words with stored takes (not value=: that changes as takes come)
    st.session_state["teach_words"] = ", ".join(modelstore.stored_words()[:MAX_WORDS])
c1, c2 = st.columns([4, 1])
text = c1.text_input("Words to teach, separated by commas", key="teach_words", placeholder="kiwi, lime")
n_takes = int(c2.number_input("Takes of each word", 1, modelstore.MAX_TAKES_PER_WORD, DEFAULT_TAKES,
                              key="teach_n_takes", help="Five is a good start; more takes, better models"))
try:
    words = parse_words(text)
except HmmrecError as exc:
    st.error(str(exc))
    words = []

for word in words:
    word_section(word, n_takes)

st.subheader("Train")
bases = {TAKES_ALONE: None} | {ON_TOP.format(n): n + modelstore.SHIPPED_SUFFIX for n in shipped.names()}
c1, c2 = st.columns([3, 1])
base_choice = c1.radio("Train on", list(bases), key="teach_base", horizontal=True,
                       help="Your takes alone: a model of your words only. On top of a shipped model: its words "
                            "(many speakers) and yours; a word it knows already is adapted to your takes.")
own_weight = c2.number_input("Each take counted", 1, 50, DEFAULT_OWN_WEIGHT, key="teach_own_weight",
                             disabled=base_choice == TAKES_ALONE,
                             help="How many times each take counts beside the shipped model (hmmrec train "
                                  "--own-weight)")
short = {w: len(modelstore.stored_takes(w, n_takes)) for w in words}
short = {w: k for w, k in short.items() if k < n_takes}
ready = bool(words) and not short
if st.button("Train", type="primary", icon=":material/model_training:", key="teach_train", disabled=not ready):
    train(words, n_takes, bases[base_choice], own_weight)
if not words:
    st.caption("Type the words to teach first.")
elif short:
    st.caption("Record every take first: " + ", ".join(f"{md(w)} {k}/{n_takes}" for w, k in short.items()))

trained = st.session_state.get(TRAINED)
if trained is not None and st.session_state.get(modelstore.MODEL_CHOICE) == trained["name"]:
    st.success(f"Trained **{md(trained['name'])}** on {md(trained['how'])} in {trained['seconds']:.1f} s: "
               "it is now the model on every page.")

st.subheader("Try it")
try_section()

st.subheader("Your models and takes")
store_section()

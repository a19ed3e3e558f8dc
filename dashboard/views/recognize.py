"""Recognize: one recording in, a score from every word model out, and how the best one aligned.

The answer is a word only when the stream's rules take it (hmmrec.stream.decide.judge_recording:
the margin over the non-keyword models and the score the sensitivity asks for); else
"not one of my words", with why.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

import charts
import inputs
import modelstore
import ui
from hmmrec.errors import HmmrecError
from hmmrec.labels import is_keyword, is_whole
from hmmrec.stream.decide import DEFAULT_SENSITIVITY, recording_evidence

SOURCE_PICK = ":material/folder_open: Pick a file"
SOURCE_UPLOAD = ":material/upload: Upload a WAV"
SOURCE_RECORD = ":material/mic: Record"
SOURCES = [SOURCE_PICK, SOURCE_UPLOAD, SOURCE_RECORD]
OTHER_FOLDER = "Other folder…"
NOT_A_WORD = "not one of my words"
NOTHING_HEARD = "nothing heard"
MAX_WORDS_LISTED = 24  # the vocabulary beside the audio sources (the rest are counted)
KEPT = "rec_kept"  # session state: (model, recording) -> what the rules weigh, state paths
MAX_KEPT = 8

st.title("Recognize a word")
st.caption("Every word model scores the recording; the best one is the answer if it stands out as the stream "
           "asks a keyword to, else the answer is “not one of my words”. Below, the best model's Viterbi path "
           "shows which stretch of the sound each of its states took.")

info = modelstore.require_model()
rec = info.rec
cfg = rec.feature_config_
vocabulary = [str(c) for c in rec.classes_ if is_keyword(str(c))]


def rules_text(v) -> str:
    """Where a recording stands against the two levels of the stream's rules."""
    return (f"leads by {v.margin:.2f} nats/frame (needs more than {v.threshold:.2f}), on its own by {v.lead:.2f} "
            f"(probability {v.posterior:.0%}), score {v.score:.2f} (needs {v.min_score:.2f}), sensitivity "
            f"{v.sensitivity:.2f}")


def vocabulary_text(words: list[str]) -> str:
    """The words, comma-separated, the first MAX_WORDS_LISTED of them (and how many more)."""
    shown = ", ".join(words[:MAX_WORDS_LISTED])
    more = len(words) - MAX_WORDS_LISTED
    return shown + (f", … ({more} more)" if more > 0 else "")


def pick_file() -> Path | None:
    folders = inputs.sound_folders() + [OTHER_FOLDER]
    c1, c2 = st.columns([1, 2])
    folder = c1.selectbox("Folder", folders, key="rec_folder")
    if folder == OTHER_FOLDER:
        folder = c1.text_input("Data folder on the server", key="rec_other_folder",
                               placeholder="/path/to/data",
                               help="Inside the built-in corpus or a folder the dashboard was started with "
                                    "(hmmrec dashboard --data DIR)")
        if not folder:
            return None
    try:
        root = inputs.allowed_path(folder)
    except HmmrecError as exc:
        st.error(str(exc))
        return None
    if not root.is_dir():
        st.error(f"{folder}: no such folder")
        return None
    files = inputs.list_wavs(root)
    if not files:
        st.warning(f"{root}: no WAV files")
        return None
    default = next((i for i, f in enumerate(files) if "kiwi" in f), 0)
    rel = c2.selectbox("File", files, index=default, key=f"rec_file:{root}",
                       help=f"{len(files)} WAV files under {root}")
    return root / rel


source = st.segmented_control("Audio", SOURCES, default=SOURCE_PICK, key="rec_source", label_visibility="collapsed")
if vocabulary:
    st.caption(f":material/record_voice_over: Words it knows: **{ui.md(vocabulary_text(vocabulary))}** — "
               f"anything else should come out as “{NOT_A_WORD}”.")
else:
    st.caption(":material/record_voice_over: This model knows no keywords, only non-keyword classes.")
clip = None
try:
    if source == SOURCE_UPLOAD:
        up = st.file_uploader("An audio file with one word (WAV, FLAC, OGG, MP3; up to 30 s)",
                              type=inputs.UPLOAD_TYPES, key="rec_upload")
        if up is not None:
            clip = inputs.read_upload(up, cfg.sr)
    elif source == SOURCE_RECORD:
        rate = cfg.sr if cfg.sr in inputs.AUDIO_INPUT_RATES else None
        say = f"Say one of: {vocabulary_text(vocabulary)}" if vocabulary else "Say one word"
        up = st.audio_input(say, sample_rate=rate, key="rec_mic")
        if up is not None:
            clip = inputs.read_upload(up, cfg.sr)
    else:
        path = pick_file()
        if path is not None:
            clip = inputs.read_path(path, cfg.sr)
except HmmrecError as exc:
    st.error(f"Cannot use this audio: {exc}")
    st.stop()

if clip is None:
    st.info("Choose a file, upload a WAV or record a word to see what the models make of it.")
    st.stop()

left, right = st.columns([1, 2], gap="large")
with left:
    answer = st.container()
    sensitivity = st.slider(
        "Sensitivity", 0.0, 1.0, DEFAULT_SENSITIVITY, 0.01, key="rec_sensitivity",
        help="The stream's knob, here for one recording: the best word is taken only if its model leads the "
             "others (silence, noise, words to ignore and the other words) by more than the threshold this sets, "
             "and the recording gets the probability it asks for. Higher: fewer words refused, and more words "
             "the model does not know taken for one it does.")
# the file recognizer's answer and what the stream's rules weigh, from one feature extraction
# per model and recording: moving the sensitivity only asks the rules again
kept = st.session_state.setdefault(KEPT, {})
key = (info.key, clip.name, hashlib.blake2b(clip.y.tobytes(), digest_size=16).hexdigest())
if key not in kept:
    try:
        evidence = recording_evidence(rec, clip.y)
    except HmmrecError as exc:
        st.error(f"Cannot recognise {clip.name}: {exc}")
        st.stop()
    while len(kept) >= MAX_KEPT:
        kept.pop(next(iter(kept)))
    kept[key] = {"evidence": evidence, "paths": {}}
scores, verdict = kept[key]["evidence"].recognition, kept[key]["evidence"].verdict(sensitivity)

labels = [str(c) for c in scores.labels]
winner = scores.label
confidence = scores.confidence
ruled_out = [labels[k] for k in sorted(scores.ruled_out)]
ranked = [r for r in scores.ranked() if r[0] not in ruled_out]  # the best first
runner_up = ranked[1][0] if len(ranked) > 1 else None

with answer:
    if verdict.accepted:
        st.metric("Recognised word", winner,
                  help="The label whose model gives the highest log-likelihood, taken by the stream's rules.")
        st.progress(min(max(confidence, 0.0), 1.0), text=f"confidence {confidence:.0%}")
        st.caption(f"Taken by the stream's rules: {rules_text(verdict)}.")
    else:
        # as a heading, not a metric: a metric cuts a phrase this long to "not one of my w…"
        st.caption("Recognised word", help="No word of the vocabulary stood out as the stream's rules ask "
                                           "(see why below).")
        st.subheader(NOTHING_HEARD if verdict.rejected_because == "silent" else NOT_A_WORD, anchor=False)
        why = f"Why: {ui.md(verdict.reason)}."
        if verdict.rejected_because in ("margin", "score"):
            why += " A higher sensitivity takes less certain words."
        st.caption(why)
    too_much = [lab for lab in ruled_out if is_whole(lab)]
    too_little = [lab for lab in ruled_out if not is_whole(lab)]
    if too_much:
        st.caption(f"Speech heard, so not {ui.md(', '.join(too_much))}: the recording holds more speech than "
                   f"any of {'its' if len(too_much) == 1 else 'their'} training clips.")
    if too_little:
        words = ("any of the words" if len(too_little) == sum(not is_whole(lab) for lab in labels)
                 else ui.md(', '.join(too_little)))
        st.caption(f"No speech heard, so not {words}: nearly every training clip of "
                   f"{'that word' if len(too_little) == 1 else 'those words'} held some.")
    if runner_up is not None:
        gap = (ranked[0][1] - ranked[1][1]) / max(scores.n_frames, 1)
        st.caption(f"Runner-up **{ui.md(runner_up)}**, {gap:.2f} nats/frame behind. "
                   f"{ui.md(clip.name)} · {clip.duration_s:.2f} s · {scores.n_frames} frames")
    st.audio(clip.wav(), format="audio/wav")
with right:
    charts.show_chart(charts.loglik_chart(scores), key="rec_scores")

others = [lab for lab in labels if lab != winner]
extra = st.multiselect("Also show the state path of", others, key="rec_compare",
                       help="Force the recording through another word's model to compare alignments.")

domain = [0.0, clip.duration_s]
panels = []
paths = {}
known = kept[key]["paths"]  # (the same for every sensitivity)
try:
    for lab in [winner] + list(extra):
        if lab not in known:
            known[lab] = charts.state_runs(rec.decode(clip.y, lab)[1], cfg.hop_s, cfg.win_s)
        paths[lab] = known[lab]
except HmmrecError as exc:
    st.error(f"Cannot align {clip.name}: {exc}")
    st.stop()

k_win = labels.index(winner)
wave = charts.waveform_chart(clip.y, clip.sr, domain,
                             title=f"waveform, shaded by the state of the “{winner}” model (best match)")
panels.append(charts.state_bands(paths[winner], winner) + wave)
for lab, runs in paths.items():
    n_states = rec.models_[labels.index(lab)].n_states
    panels.append(charts.state_path_chart(runs, lab, n_states, domain, winner=lab == winner))
panels.append(charts.spectrogram_chart(clip.y, clip.sr, cfg, domain))
panels.append(charts.mfcc_chart(clip.y, cfg, domain))
st.subheader("Alignment", help="Scroll to zoom, drag to pan the time axis (top panel); double-click to reset.")
charts.show_chart(charts.zoomable(panels, "rec"), key="rec_alignment")

"""Train & evaluate: fit word models on a corpus, score them on held-out files, download them."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

import charts
import inputs
import modelstore
import ui
from hmmrec import HMMRecognizer
from hmmrec.recognizer import DEFAULT_OWN_WEIGHT
from hmmrec.corpus import Corpus
from hmmrec.errors import HmmrecError
from hmmrec.evaluate import evaluate_adapted, evaluate_files, file_features, speaker_summary
from hmmrec.labels import UNKNOWN

RESULT = "train_result"  # the last TrainResult of this session
STATE_CHOICES = ["auto"] + list(range(3, 17))
LABEL_COLUMN_PX, METRIC_COLUMN_PX, FILES_COLUMN_PX = 90, 85, 50


class TrainResult:
    """A trained (or evaluated) model, its evaluation report, and how it was made."""

    def __init__(self, info, report, test_path, trained):
        self.info = info
        self.report = report
        self.test_path = test_path
        self.trained = trained
        self._file = None

    def model_file(self) -> bytes:
        """The model as the bytes of a model file (written once)."""
        if self._file is None:
            with tempfile.TemporaryDirectory() as tmp:
                self._file = self.info.rec.save(Path(tmp) / "hmmrec.model").read_bytes()
        return self._file


st.title("Train & evaluate")
st.caption("Fit one left-to-right HMM per label on a folder-per-label tree or a CSV manifest "
           "(path,label[,speaker]), then score it on held-out files.")

default_train = str(inputs.SOUNDS / "train") if (inputs.SOUNDS / "train").is_dir() else ""
default_test = str(inputs.SOUNDS / "test") if (inputs.SOUNDS / "test").is_dir() else ""
c1, c2 = st.columns(2)
train_path = c1.text_input("Training data (folder or manifest on the server)", value=default_train, key="train_data")
test_path = c2.text_input("Test data (optional)", value=default_test, key="train_test")
o1, o2 = st.columns([3, 1])
own_path = o1.text_input("Your own recordings (optional)", key="train_own",
                         help="A folder or manifest of recordings of your voice (e.g. from 'hmmrec record'), "
                              "trained on beside the training data and counted several times: models trained on "
                              "other people do worst on a voice unlike theirs.")
own_weight = o2.number_input("Each counted", 1, 50, DEFAULT_OWN_WEIGHT, key="train_own_weight",
                             help="How many times each of your recordings counts (hmmrec train --own-weight)")
with st.expander("Model settings"):
    s1, s2, s3, s4, s5, s6 = st.columns(6)
    n_states = s1.selectbox("States per word", STATE_CHOICES, key="train_states",
                            help="auto: about one state per 4 frames of the word's median length")
    n_mix = s2.slider("Gaussians per state", 1, 16, HMMRecognizer().n_mix, key="train_mix")
    speeds = s3.checkbox("Data augmentation", value=True, key="train_speeds",
                         help="Also train on copies with the filterbank warped by 0.9 and 1.1 (shorter and "
                              "longer vocal tracts): slower to train, more robust to new speakers.")
    mmi = s4.checkbox("Discriminative training", value=True, key="train_mmi",
                      help="After maximum likelihood, one iteration of maximum mutual information training: "
                           "each word model moves away from the other words' examples it scores nearly as "
                           "well as its own. A few seconds more; fewer confusions between similar words.")
    unknown_models = s5.number_input("Stream models of _unknown_", 1, 64, HMMRecognizer().unknown_models,
                                     key="train_unknown_models",
                                     help="A non-keyword label of speech (_unknown_: the words to ignore) gets up to "
                                          "this many models in the stream, one per group of similar examples; "
                                          "files are classified with one model per label.")
    n_jobs = s6.selectbox("Parallel jobs", [-1, 1, 2, 4], key="train_jobs",
                          format_func=lambda v: "all cores" if v == -1 else str(v))

with st.container(horizontal=True, vertical_alignment="center"):
    go = st.button("Train", type="primary", icon=":material/model_training:", key="train_go")
    evaluate_only = st.button("Evaluate the current model", icon=":material/fact_check:", key="train_eval_current",
                              help="Score the model shown in the sidebar on the test data, without training.")
    adapt = st.checkbox("Adapt to each test speaker", key="train_adapt",
                        help="Before scoring, move the word models towards each test speaker's voice, "
                             "using the files it recognises confidently and none of their labels (hmmrec eval "
                             "--adapt): for many recordings of each voice. Speakers come from the manifest's "
                             "speaker column or the file names; without them, all files count as one voice.")


def evaluate(rec, path, status, adapt: bool) -> dict | None:
    if not path:
        return None
    corpus = inputs.load_allowed_corpus(path)
    if not adapt:
        status.update(label=f"evaluating on {path}…")
        return evaluate_files(rec, corpus)
    status.update(label=f"adapting to the speakers of {path}…")
    feats, speech, views = file_features(rec, corpus.paths, speech=True)
    return evaluate_adapted(rec, corpus, feats, speech, views)[0]


if go or evaluate_only:
    with st.status("Working…", expanded=True) as status:
        try:
            if go:
                if not train_path:
                    raise HmmrecError("enter the training data folder or manifest")
                corpus = inputs.load_allowed_corpus(train_path)
                own = inputs.load_allowed_corpus(own_path) if own_path else Corpus()
                labels = sorted(set(corpus.labels) | set(own.labels))
                if len(labels) < 2:
                    raise HmmrecError(f"{train_path}: need at least two labels, found {labels}")
                st.write(f"{len(corpus)} files, {len(corpus.labels)} labels: "
                         + ", ".join(f"{ui.md(k)} ({v})" for k, v in corpus.counts().items()))
                if own:
                    st.write(f"and {len(own)} of your own, each counted {int(own_weight)} times: "
                             + ", ".join(f"{ui.md(k)} ({v})" for k, v in own.counts().items()))
                bar = st.progress(0.0, text="starting…")
                aug = {} if speeds else {"speeds": (), "warps": (), "noise_snrs": ()}  # hmmrec's defaults, or none
                disc = {} if mmi else {"mmi_iter": 0}  # hmmrec's default, or none
                rec = HMMRecognizer(n_states=n_states, n_mix=n_mix, n_jobs=n_jobs, unknown_models=int(unknown_models),
                                    **aug, **disc)
                weights = [1] * len(corpus) + [int(own_weight)] * len(own) if own else None
                modelstore.fit_with_progress(rec, corpus.paths + own.paths, corpus.y + own.y,
                                         lambda f, text: bar.progress(f, text=text), sample_weight=weights)
                name = f"{Path(train_path).name or 'model'} {datetime.now():%Y-%m-%d %H.%M.%S}"
                info = modelstore.keep_model(rec, name, f"trained here on {train_path}")
            else:
                info = modelstore.require_model()
            report = evaluate(info.rec, test_path, status, adapt)
            st.session_state[RESULT] = TrainResult(info, report, test_path, trained=bool(go))
            status.update(label="Done", state="complete", expanded=False)
            if go:
                st.rerun()  # the sidebar lists the new model
        except HmmrecError as exc:
            status.update(label="Failed", state="error", expanded=True)
            st.error(str(exc))

result = st.session_state.get(RESULT)
if result is None:
    st.info("Press **Train** to fit models on the training data (the built-in sounds/train takes a minute "
            "or two), or **Evaluate** to score the current model.")
    st.stop()

rec = result.info.rec
summary = rec.training_summary_
st.subheader(f"{'Trained' if result.trained else 'Current'} model: {result.info.name}")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Labels", len(rec.classes_))
m2.metric("Training files", summary.get("n_files", "?"))
if "seconds" in summary:  # models read from a file do not keep it (the same file whatever the machine)
    m3.metric("Training time", f"{summary['seconds']:.1f} s")
else:
    m3.metric("Gaussians", sum(m.n_states * m.n_mix for m in rec.models_))
report = result.report
if report is not None:
    adapted = " (adapted)" if "adapted_voices" in report else ""
    m4.metric(f"Test accuracy{adapted}", f"{report['accuracy']:.1%}", help=f"{report['n']} files in {result.test_path}")

with st.container(horizontal=True):
    st.download_button("Download the model", result.model_file(), file_name="hmmrec.model",
                       mime="application/octet-stream", key="train_download", icon=":material/download:")
    if result.trained:
        st.button("Show this model on every page", key="train_use", icon=":material/visibility:",
                  disabled=st.session_state.get(modelstore.MODEL_CHOICE) == result.info.name,
                  on_click=modelstore.choose_session_model, args=(result.info.name,))

if report is None:
    st.caption("No test data given: no evaluation.")
    st.stop()

labels = report["labels"]
as_unknown, never = report.get("scored_as_unknown") or {}, report.get("never_right") or {}
if as_unknown:
    st.info("Words of the test data that the model was not trained on, right when it answers "
            f"{ui.md(UNKNOWN)}: " + ", ".join(f"{ui.md(u)} ({n})" for u, n in as_unknown.items()))
if never:
    st.warning("The test data has labels the model was not trained on (always counted wrong): "
               + ", ".join(f"{ui.md(u)} ({n})" for u, n in never.items()))
left, right = st.columns([1, 1], gap="large")
with left:
    st.markdown("**Confusion matrix** (rows: true label, columns: recognised; colour: share of the row)")
    charts.show_chart(charts.confusion_chart(labels, report["confusion"]), key="train_confusion")
with right:
    st.markdown("**Per label**")
    per = pd.DataFrame([{"label": lab, **vals} for lab, vals in report["per_label"].items()])
    bar = {"format": "%.2f", "min_value": 0, "max_value": 1, "width": METRIC_COLUMN_PX}
    st.dataframe(per, hide_index=True, width="stretch", column_config={
        "label": st.column_config.TextColumn("label", width=LABEL_COLUMN_PX),
        "precision": st.column_config.ProgressColumn("precision", **bar),
        "recall": st.column_config.ProgressColumn("recall", **bar),
        "f1": st.column_config.ProgressColumn("F1", **bar),
        "support": st.column_config.NumberColumn("files", width=FILES_COLUMN_PX),
    })
    st.caption(f"Accuracy {report['accuracy']:.3f} · balanced accuracy {report['balanced_accuracy']:.3f} · "
               f"{report['n']} files")
    if "adapted_voices" in report:
        voices = report["adapted_voices"]
        st.caption(f"Adapted first to {'each of ' + str(voices) + ' speakers' if voices > 1 else 'one voice'}, "
                   f"no labels used: {report['adapted_files_used']} of {report['n']} files recognised confidently "
                   "enough to adapt to.")
    summary = speaker_summary(report)
    if summary is not None:
        mean, hardest = summary
        names = ", ".join(f"{ui.md(spk)} {v['accuracy']:.2f} ({v['files']} files)" for spk, v in hardest)
        st.caption(f"By speaker: {len(report['per_speaker'])} speakers, mean accuracy {mean:.3f}; hardest: {names}")
errors = report.get("errors") or []
if errors:
    with st.expander(f"{len(errors)} misrecognised file{'s' if len(errors) != 1 else ''}"):
        st.dataframe(pd.DataFrame(errors), hide_index=True, width="stretch")

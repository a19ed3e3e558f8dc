"""Evaluation reports for held-out files (scikit-learn metrics underneath).

:func:`classification_report` returns a plain dict (the JSON contract of ``hmmrec
eval``: ``accuracy``, ``n``, ``labels``, ``confusion`` with rows = true label and
columns = predicted label, in ``labels`` order) and :func:`format_report` renders it as
a readable table. :func:`evaluate_files` recognises held-out files on local worker
processes or a Dask cluster (:mod:`hmmrec.cluster`) and reports, :func:`evaluate_adapted`
after adapting the models to each speaker's files; :func:`scoring_labels` says how test
labels that the model does not know are scored.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from .labels import UNKNOWN, is_keyword

__all__ = ["classification_report", "format_report", "evaluate_files", "evaluate_adapted", "voices", "file_features",
           "scoring_labels", "per_speaker", "speaker_summary", "summarize_folds"]

# files are recognised in jobs of at least this many (a worker gets a copy of the recognizer
# with each job) ...
_MIN_INPUTS_PER_JOB = 32
# ... and at most as many jobs as this per worker, for progress and balance
_JOBS_PER_WORKER = 4


def classification_report(y_true, y_pred, labels=None, files=None) -> dict:
    """Accuracy, balanced accuracy, per-label precision/recall/F1/support, confusion matrix.

    ``labels`` fixes the order of rows and columns (default: every label seen in
    ``y_true`` or ``y_pred``, sorted). ``files`` (optional) lists the misrecognised files.
    """
    y_true = [str(v) for v in y_true]
    y_pred = [str(v) for v in y_pred]
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred))
    labels = [str(v) for v in labels]
    prec, rec, f1, sup = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    report = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true else 0.0,
        # the mean recall of the labels that occur (scikit-learn's balanced accuracy, without its
        # warning when a file is recognised as a label the test set does not have)
        "balanced_accuracy": float(np.mean([r for r, s in zip(rec, sup) if s > 0])) if y_true else 0.0,
        "labels": labels,
        "per_label": {lab: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for lab, p, r, f, s in zip(labels, prec, rec, f1, sup)},
        "confusion": cm.tolist(),
    }
    if files is not None:
        report["errors"] = [{"file": str(f), "true": t, "predicted": p}
                            for f, t, p in zip(files, y_true, y_pred) if t != p]
    return report


def format_report(report: dict) -> str:
    """The report as a text table followed by the confusion matrix."""
    labels = report["labels"]
    w = max([len(lab) for lab in labels] + [9])
    lines = [f"{'label':<{w}}  precision  recall    f1  support"]
    for lab in labels:
        r = report["per_label"][lab]
        lines.append(f"{lab:<{w}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:.3f}  {r['support']:7d}")
    lines.append("")
    lines.append(f"accuracy           {report['accuracy']:.4f}  ({report['n']} files)")
    lines.append(f"balanced accuracy  {report['balanced_accuracy']:.4f}")
    summary = speaker_summary(report)
    if summary is not None:
        mean, hardest = summary
        names = ", ".join(f"{spk} {v['accuracy']:.3f} of {v['files']}" for spk, v in hardest)
        lines.append(f"by speaker         {mean:.4f}  (mean of {len(report['per_speaker'])} speakers; hardest: {names})")
    for key, what in (("scored_as_unknown", f"scored as {UNKNOWN} (words the model does not know)"),
                      ("never_right", "never right (labels the model does not have)")):
        if report.get(key):
            lines.append(f"{what}: " + ", ".join(f"{lab} ({n})" for lab, n in report[key].items()))
    lines.append("")
    lines.append("confusion matrix (rows: true label, columns: predicted)")
    cw = max(max(len(lab) for lab in labels), len(str(max(max(r) for r in report["confusion"]))) if labels else 1)
    cw = min(cw, 9)
    lines.append(" " * w + "  " + " ".join(f"{lab[:cw]:>{cw}}" for lab in labels))
    for lab, row in zip(labels, report["confusion"]):
        lines.append(f"{lab:<{w}}  " + " ".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)


def _slices(n_items: int, n_jobs) -> list[slice]:
    """Contiguous slices of the inputs, one job each: one input a job in this process, or
    enough inputs to be worth sending to a worker (its copy of the recognizer travels with it)."""
    from .cluster import active_client
    from .progress import effective_n_jobs

    n = effective_n_jobs(n_jobs)
    if n == 1 and active_client() is None:
        size = 1
    else:
        size = max(_MIN_INPUTS_PER_JOB, -(-n_items // (_JOBS_PER_WORKER * n)))
    return [slice(a, min(a + size, n_items)) for a in range(0, n_items, size)]


def _features_of(recognizer, paths, speech: bool) -> list:
    if not speech:
        return recognizer.features(paths)
    out = []
    for p in paths:
        y, feats = recognizer.signal_and_features(p)
        out.append((feats, recognizer.speech(y), recognizer.filterbank_of(y)))
    return out


def _labels_of(recognizer, inputs, features_given: bool) -> list[str]:
    if features_given:  # (features, speech or None, filterbank frames or None) of each file
        return [recognizer.recognize_features(f, s, g).label for f, s, g in inputs]
    return [recognizer.recognize(x).label for x in inputs]


def _in_slices(fn, recognizer, items: list, extra: tuple, n_jobs, progress) -> list:
    """``fn(recognizer, items[s], *extra)`` of every slice of ``items``, joined in order;
    ``progress(done, total)`` counts the items as slices arrive."""
    from .progress import run_jobs

    slices = _slices(len(items), n_jobs)

    def arrived(result, done, total):
        progress(slices[done - 1].stop, len(items))

    parts = run_jobs(fn, [(recognizer, items[s], *extra) for s in slices], n_jobs,
                     on_result=arrived if progress is not None else None)
    return [x for part in parts for x in part]


def file_features(recognizer, paths, n_jobs=1, progress=None, speech=False):
    """``recognizer.features(paths)``, on up to ``n_jobs`` worker processes or on the active
    cluster (:mod:`hmmrec.cluster`); ``progress(done, total)`` as files are done.
    ``speech``: also what the voice activity detector heard in each file (``recognizer.speech``)
    and the filterbank frames its second frame classifier reads (``recognizer.filterbank_of``),
    returned as a second and a third list."""
    out = _in_slices(_features_of, recognizer, list(paths), (speech,), n_jobs, progress)
    if not speech:
        return out
    return [f for f, _, _ in out], [s for _, s, _ in out], [g for _, _, g in out]


def scoring_labels(classes, labels) -> tuple[dict, list]:
    """How test ``labels`` are scored against a model of ``classes``: (relabelled, never_right).

    A word the model does not know is right when the model answers ``_unknown_``, its
    answer for words it does not know, if it has that label (the usual protocol of
    keyword recognition, as Speech Commands' twelve classes): ``relabelled`` maps each
    such word to ``_unknown_``. The other labels the model does not know (every one, if
    the model has no ``_unknown_``; non-keyword labels such as ``_noise_`` always) are
    counted as they are, always wrong: ``never_right``, sorted.
    """
    known = {str(c) for c in classes}
    missing = sorted({str(v) for v in labels} - known)
    relabelled = {lab: UNKNOWN for lab in missing if UNKNOWN in known and is_keyword(lab)}
    return relabelled, [lab for lab in missing if lab not in relabelled]


def evaluate_files(recognizer, corpus, features=None, n_jobs=1, progress=None, speech=None, filterbank=None) -> dict:
    """Recognise every file of ``corpus`` and report against its labels.

    Labels of the corpus that the model does not know are scored as :func:`scoring_labels`
    says: as ``_unknown_`` where the model has it and they are words, else as they are
    (always wrong); the report counts the files of each (``scored_as_unknown``,
    ``never_right``: label -> files). ``per_speaker``: see :func:`per_speaker`.
    ``features``: the files' normalised features, when already extracted, and ``speech``
    what the voice activity detector heard in them and ``filterbank`` their filterbank frames
    (:func:`file_features`), if known. ``n_jobs``:
    worker processes (``-1``: every core; inside :func:`hmmrec.cluster.on_cluster`, the
    cluster's workers); the report is the same whichever ran it. ``progress(done, total)``:
    called as files are recognised.
    """
    given = features is not None
    items = _items(features, speech, filterbank) if given else list(corpus.paths)
    pred = _in_slices(_labels_of, recognizer, items, (given,), n_jobs, progress)
    return _report(recognizer, corpus, pred)


def _items(features, speech, filterbank) -> list:
    none = [None] * len(features)
    return list(zip(features, none if speech is None else speech, none if filterbank is None else filterbank))


def voices(corpus) -> list[list[int]]:
    """The indices of ``corpus``'s files by voice: one group per speaker when every file
    names one and there are at least two, else all files as one voice."""
    if len(corpus.speakers) < 2 or any(u.speaker is None for u in corpus):
        return [list(range(len(corpus)))]
    by: dict[str, list[int]] = {}
    for i, u in enumerate(corpus):
        by.setdefault(str(u.speaker), []).append(i)
    return list(by.values())


def _adapt_and_label(recognizer, groups: list, options: dict) -> list:
    """For each group of one voice's (features, speech, filterbank) items: the labels the
    recognizer adapted to that group gives them, and the :class:`~hmmrec.adapt.Adaptation`."""
    from .adapt import adapt_features

    out = []
    for items in groups:
        feats, speech, views = (list(v) for v in zip(*items))
        adapted, how = adapt_features(recognizer, feats, speech=speech, filterbank=views, **options)
        out.append((_labels_of(adapted, items, True), how))
    return out


def evaluate_adapted(recognizer, corpus, features, speech, filterbank, n_jobs=1, progress=None, **options):
    """:func:`evaluate_files` with the models adapted, without labels, to each voice of
    ``corpus`` (:func:`voices`) and each file recognised by its own voice's models: a
    test set of several speakers is several voices, and one adaptation to all of them
    moves the models towards their mixture instead of towards each. ``features``,
    ``speech`` and ``filterbank`` as :func:`file_features` gives them; ``options``
    (``min_posterior``, ``tau``, ``passes``) go to :func:`~hmmrec.adapt.adapt_features`.
    Returns the report, which also gives the voices adapted to (``adapted_voices``) and the
    files recognised confidently enough to adapt to (``adapted_files_used``), and each
    voice's :class:`~hmmrec.adapt.Adaptation`."""
    from .adapt import adapt_features
    from .progress import run_jobs

    groups, items = voices(corpus), _items(features, speech, filterbank)
    if len(groups) == 1:  # adapted here, the files then recognised in parallel
        adapted, how = adapt_features(recognizer, features, speech=speech, filterbank=filterbank, **options)
        return _adapted_report(evaluate_files(adapted, corpus, features, n_jobs, progress, speech, filterbank), [how])
    jobs, size = [], 0  # a job adapts to one voice or to several of few files each
    for ii in groups:
        if not jobs or size >= _MIN_INPUTS_PER_JOB:
            jobs.append([])
            size = 0
        jobs[-1].append(ii)
        size += len(ii)
    done = [0]

    def arrived(result, n, total):
        done[0] += sum(len(labels) for labels, _ in result)
        progress(done[0], len(corpus))

    work = [(recognizer, [[items[i] for i in ii] for ii in job], options) for job in jobs]
    results = run_jobs(_adapt_and_label, work, n_jobs, on_result=arrived if progress is not None else None)
    pred: list = [None] * len(corpus)
    adaptations = []
    for job, result in zip(jobs, results):
        for ii, (labels, how) in zip(job, result):
            for i, lab in zip(ii, labels):
                pred[i] = lab
            adaptations.append(how)
    return _adapted_report(_report(recognizer, corpus, pred), adaptations)


def _adapted_report(report: dict, adaptations: list) -> tuple[dict, list]:
    report["adapted_voices"] = len(adaptations)
    report["adapted_files_used"] = sum(h.n_used for h in adaptations)
    return report, adaptations


def _report(recognizer, corpus, pred) -> dict:
    relabelled, never = scoring_labels(recognizer.classes_, corpus.y)
    truth = [relabelled.get(str(v), str(v)) for v in corpus.y]
    labels = sorted({str(c) for c in recognizer.classes_} | set(truth))
    report = classification_report(truth, pred, labels=labels, files=corpus.paths)
    counts = corpus.counts()
    report["scored_as_unknown"] = {lab: counts[lab] for lab in relabelled}
    report["never_right"] = {lab: counts[lab] for lab in never}
    report["per_speaker"] = per_speaker(corpus, truth, pred)
    return report


def per_speaker(corpus, truth, pred) -> dict:
    """Files and accuracy of each known speaker, hardest first ({} unless the corpus
    names at least two speakers): which voices a model does not hear yet."""
    by: dict[str, list] = {}
    for u, t, p in zip(corpus, truth, pred):
        if u.speaker is not None:
            by.setdefault(str(u.speaker), []).append(t == str(p))
    if len(by) < 2:
        return {}
    stats = {spk: {"files": len(v), "accuracy": float(np.mean(v))} for spk, v in by.items()}
    return dict(sorted(stats.items(), key=lambda kv: (kv[1]["accuracy"], -kv[1]["files"], kv[0])))


def speaker_summary(report: dict, n: int = 3):
    """(mean accuracy over the speakers, the ``n`` hardest as (speaker, stats) pairs) of a
    report's ``per_speaker``, or None when it has none."""
    speakers = report.get("per_speaker") or {}
    if not speakers:
        return None
    return float(np.mean([v["accuracy"] for v in speakers.values()])), list(speakers.items())[:n]


def summarize_folds(accuracies: dict) -> dict:
    """Mean, worst and per-fold accuracy of a cross-validation."""
    vals = np.array(list(accuracies.values()), dtype=float)
    worst = min(accuracies, key=accuracies.get)
    return {"mean": float(vals.mean()), "worst": float(vals.min()), "worst_fold": worst,
            "folds": {str(k): float(v) for k, v in accuracies.items()}}

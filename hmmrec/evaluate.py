"""Evaluation reports for held-out files (scikit-learn metrics underneath).

:func:`classification_report` returns a plain dict (the JSON contract of ``hmmrec
eval``: ``accuracy``, ``n``, ``labels``, ``confusion`` with rows = true label and
columns = predicted label, in ``labels`` order) and :func:`format_report` renders it as
a readable table.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

__all__ = ["classification_report", "format_report", "evaluate_files"]


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
    lines.append("")
    lines.append("confusion matrix (rows: true label, columns: predicted)")
    cw = max(max(len(lab) for lab in labels), len(str(max(max(r) for r in report["confusion"]))) if labels else 1)
    cw = min(cw, 9)
    lines.append(" " * w + "  " + " ".join(f"{lab[:cw]:>{cw}}" for lab in labels))
    for lab, row in zip(labels, report["confusion"]):
        lines.append(f"{lab:<{w}}  " + " ".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)


def evaluate_files(recognizer, corpus, features=None) -> dict:
    """Recognise every file of ``corpus`` and report against its labels.

    Labels of the corpus that the model does not know are still counted (always wrong).
    ``features``: the files' normalised features, when already extracted.
    """
    if features is None:
        pred = recognizer.predict(corpus.paths)
    else:
        pred = [recognizer.recognize_features(f).label for f in features]
    labels = sorted(set(recognizer.classes_) | set(corpus.y))
    return classification_report(corpus.y, pred, labels=labels, files=corpus.paths)


def summarize_folds(accuracies: dict) -> dict:
    """Mean, worst and per-fold accuracy of a cross-validation."""
    vals = np.array(list(accuracies.values()), dtype=float)
    worst = min(accuracies, key=accuracies.get)
    return {"mean": float(vals.mean()), "worst": float(vals.min()), "worst_fold": worst,
            "folds": {str(k): float(v) for k, v in accuracies.items()}}

"""Keyword spotting scored against what was said: misses, false alarms per hour, latency.

A *truth list* is a CSV with a header and the columns ``label,start,end`` (seconds from
the start of the recording), one row per word said, as ``sounds/streams/*.csv``. Its rows
whose label is one of the model's keywords are the keywords to find; every other row
(``_unknown_``, or a word the model does not know) is a word to ignore.

An event *hits* the first keyword not yet found that has the event's label and overlaps
its span; any other event is a false alarm, so a keyword heard as another counts as a
miss and a false alarm (as NIST's keyword-spotting evaluations score, with overlap in
place of their time tolerance). Latency is the event's
``time`` less the keyword's end: how long after the word the reaction came.

:func:`sweep` decides a recording at several sensitivities in one scoring pass
(:func:`hmmrec.stream.events_at_sensitivities`; adapting to the voice, a pass each) and
scores each: the miss / false-alarm curve that the one knob moves along.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, ParameterError
from .labels import is_keyword
from .safefile import open_regular

__all__ = ["TruthWord", "read_truth", "truth_beside", "recordings_in", "match_events", "score_events", "sweep",
           "sweep_many", "DEFAULT_SWEEP", "MAX_FA_PER_HOUR"]

# the sensitivities of a curve unless told
DEFAULT_SWEEP = tuple(round(0.1 * i, 1) for i in range(11))
# the usual operating point of a curve: the fewest misses with at most this many false alarms an hour
MAX_FA_PER_HOUR = 1.0


@dataclass(frozen=True)
class TruthWord:
    """One word said in a recording: its label and span (seconds)."""

    label: str
    start: float
    end: float


def read_truth(path) -> list[TruthWord]:
    """The rows of a truth list (see the module docstring), checked: a clear
    :class:`~hmmrec.errors.DataError` naming the line for anything else."""
    path = Path(path)
    words = []
    try:
        with io.TextIOWrapper(open_regular(path, DataError, "a truth list"), newline="",
                              encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"label", "start", "end"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}: a truth list needs columns label,start,end (missing "
                                f"{', '.join(sorted(missing))})")
            for line, row in enumerate(reader, start=2):
                label = (row.get("label") or "").strip()
                try:
                    start, end = float(row.get("start") or ""), float(row.get("end") or "")
                except ValueError:
                    raise DataError(f"{path}:{line}: start and end must be seconds, got "
                                    f"{row.get('start')!r} and {row.get('end')!r}") from None
                if not label or not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start <= end:
                    raise DataError(f"{path}:{line}: need a label and 0 <= start <= end, got "
                                    f"{label!r}, {start:g}, {end:g}")
                words.append(TruthWord(label, start, end))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 CSV truth list") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    return words


def truth_beside(recording) -> Path | None:
    """The truth list kept beside a recording (``talk.wav`` -> ``talk.csv``), if there is one."""
    p = Path(recording).with_suffix(".csv")
    return p if p.is_file() else None


def recordings_in(folder) -> tuple[list[Path], list[Path]]:
    """The audio files directly in ``folder``: (those with a truth list beside them, those
    without), each sorted."""
    from .corpus import audio_files

    told: tuple[list[Path], list[Path]] = ([], [])
    for f in audio_files(folder):
        told[truth_beside(f) is None].append(f)
    return told


def _fields(event) -> tuple:
    """(label, start, end, time) of a :class:`~hmmrec.stream.KeywordEvent` or of such a tuple."""
    if hasattr(event, "label"):
        return str(event.label), float(event.start), float(event.end), float(event.time)
    label, start, end, when = event[:4]
    return str(label), float(start), float(end), float(when)


def match_events(events, keywords) -> list:
    """For each event in order, the index in ``keywords`` of the keyword it hits, or None
    (a false alarm). ``keywords``: the keywords to find (:class:`TruthWord`)."""
    used = [False] * len(keywords)
    out = []
    for event in events:
        label, start, end, _ = _fields(event)
        hit = next((i for i, k in enumerate(keywords)
                    if not used[i] and k.label == label and start < k.end and end > k.start), None)
        if hit is not None:
            used[hit] = True
        out.append(hit)
    return out


def _to_find(label: str, labels) -> bool:
    """Whether a truth word is a keyword to find: a keyword label, and one of ``labels``
    (a model's labels) when given."""
    return is_keyword(label) and (labels is None or label in labels)


def _tally(events, truth, labels) -> tuple:
    """(keywords to find, latencies of the hits, false alarms, kinds of keyword) of one recording."""
    events = [_fields(e) for e in events]
    keywords = [t for t in truth if _to_find(t.label, labels)]
    hits = match_events(events, keywords)
    latencies = [events[k][3] - keywords[i].end for k, i in enumerate(hits) if i is not None]
    return len(keywords), latencies, sum(1 for i in hits if i is None), {k.label for k in keywords}


def _summary(tallies, duration_s: float) -> dict:
    n = sum(t[0] for t in tallies)
    latencies = [v for t in tallies for v in t[1]]
    false_alarms = sum(t[2] for t in tallies)
    kinds = len(set().union(*(t[3] for t in tallies))) if tallies else 0
    hours = duration_s / 3600
    return {"keywords": n, "hits": len(latencies), "misses": n - len(latencies),
            "miss_rate": round(1 - len(latencies) / n, 4) if n else None,
            "false_alarms": false_alarms, "false_alarms_per_hour": round(false_alarms / hours, 2),
            "false_alarms_per_keyword_hour": round(false_alarms / hours / kinds, 3) if kinds else None,
            "latency_p50_s": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
            "latency_p95_s": round(float(np.percentile(latencies, 95)), 3) if latencies else None}


def score_events(events, truth, duration_s: float, keywords_of=None) -> dict:
    """Misses, false alarms and latency of ``events`` against ``truth`` over ``duration_s``
    seconds of audio. The keywords to find are the truth's keyword labels (not beginning
    with ``_``), of them only those in ``keywords_of`` when given (a model's labels,
    ``recognizer.classes_``).

    ``miss_rate`` and ``false_alarms_per_keyword_hour`` (false alarms per hour per keyword
    kind, NIST's normalisation) are None when there is no keyword to find; latencies are
    None without a hit.
    """
    if not duration_s > 0:
        raise ParameterError(f"duration_s must be positive, got {duration_s!r}")
    labels = None if keywords_of is None else {str(v) for v in keywords_of}
    return _summary([_tally(events, truth, labels)], duration_s)


def sweep(recognizer, recording, truth, sensitivities=DEFAULT_SWEEP, progress=None, **kwargs) -> dict:
    """The miss / false-alarm curve of ``recording`` (a path) against ``truth``
    (:func:`read_truth`): :func:`sweep_many` of the one recording, with its path."""
    result = sweep_many(recognizer, [(recording, truth)], sensitivities, progress, **kwargs)
    return {"recording": str(recording), **result}


def sweep_many(recognizer, items, sensitivities=DEFAULT_SWEEP, progress=None, *, adapt: bool = False,
               **kwargs) -> dict:
    """The miss / false-alarm curve of recordings, each with its truth list: ``items`` are
    (path, :func:`read_truth` rows). Each recording is a stream of its own, decided at every
    sensitivity in one scoring pass, exactly the events of ``hmmrec stream`` at each; a
    row of the curve counts the misses and false alarms of them all over their total
    duration (as :func:`score_events` does for one).

    The keywords to find are the truth's words that are the model's keywords; the others
    (``_unknown_``, words the model does not know) are counted in ``ignored``. ``best``:
    the row with the fewest misses at no more than :data:`MAX_FA_PER_HOUR` false alarms an
    hour (None if none). ``progress(seconds)``: the seconds of audio scored so far, over
    all recordings (and passes); ``kwargs`` go to the stream (``window_s``, ``hop_s``...).

    ``adapt``: each recording adapts to the voice heard, afresh, as ``hmmrec stream
    --adapt`` does; the models then change with the events, which differ between
    sensitivities, so each sensitivity is a pass of its own over every recording.
    """
    from . import audio
    from .stream import chunk_samples, events_at_sensitivities, stream_file

    levels = sorted({float(s) for s in sensitivities})
    if not levels or not all(0.0 <= s <= 1.0 for s in levels):
        raise ParameterError(f"sensitivities must lie between 0 and 1, got {list(sensitivities)}")
    items = [(path, list(truth)) for path, truth in items]
    if not items:
        raise ParameterError("sweep_many needs at least one recording")
    durations = [audio.info(path).duration_s for path, _ in items]  # every file readable before any work
    sr = recognizer.feature_config_.sr
    labels = {str(c) for c in recognizer.classes_}
    tallies: dict[float, list] = {s: [] for s in levels}
    scored = 0.0  # seconds of audio of the passes before this one
    for i, (path, truth) in enumerate(items):
        def consumed(t: float) -> None:
            if progress is not None:
                progress(scored + t)

        if adapt:
            for s in levels:
                events = list(stream_file(recognizer, path, progress=consumed, sensitivity=s, adapt=True, **kwargs))
                tallies[s].append(_tally(events, truth, labels))
                scored += durations[i]
            continue

        def chunks(path=path):
            done = 0
            for chunk in audio.iter_chunks(path, sr, chunk_samples(sr)):
                yield chunk
                done += len(chunk)
                consumed(done / sr)

        swept = events_at_sensitivities(recognizer, chunks(), levels, **kwargs)
        for s in levels:
            tallies[s].append(_tally(swept[s], truth, labels))
        scored += durations[i]
    total = sum(durations)
    rows = [{"sensitivity": s, **_summary(tallies[s], total)} for s in levels]
    ignored: dict[str, int] = {}
    for _, truth in items:
        for t in truth:
            if not _to_find(t.label, labels):
                ignored[t.label] = ignored.get(t.label, 0) + 1
    ok = [r for r in rows if r["false_alarms_per_hour"] <= MAX_FA_PER_HOUR and r["miss_rate"] is not None]
    best = min(ok, key=lambda r: (r["miss_rate"], r["false_alarms_per_hour"])) if ok else None
    return {"recordings": len(items), "duration_s": round(total, 3), "adapted": bool(adapt),
            "keywords": rows[0]["keywords"], "ignored": dict(sorted(ignored.items())), "rows": rows, "best": best}

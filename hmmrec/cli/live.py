"""Subcommands on streams and the microphone: stream, listen, devices, record.

Parsing and printing only; the work is done by :mod:`hmmrec.stream`,
:mod:`hmmrec.live` and :mod:`hmmrec.record`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import HmmrecError
from ..live import DEFAULT_SR
from ..progress import progress_bar, write_line
from ..progress import plural
from .common import (EXIT_OK, add_quiet_option, device, load_model, positive_float, positive_int, refuse_existing,
                     unit_float, write_json)

COUNTDOWN_S = 1.0
# stream's bar: seconds of audio done, and the real-time factor (processing time / audio time)
_STREAM_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s of audio [{elapsed}<{remaining}{postfix}]"


def _stream_kwargs(args) -> dict:
    """The stream's settings given on the command line."""
    kw = {}
    if getattr(args, "sensitivity", None) is not None:
        kw["sensitivity"] = args.sensitivity
    if getattr(args, "window", None) is not None:
        kw["window_s"] = args.window
    if getattr(args, "hop", None) is not None:
        kw["hop_s"] = args.hop
    kw["adapt"] = bool(getattr(args, "adapt", False))
    return kw


def format_event(ev) -> str:
    """One event as a line of text: ``  1.23-1.80  apple   score 2.31 nats/frame  (decided at 2.10 s)``."""
    return (f"{ev.start:6.2f}-{ev.end:<6.2f} {ev.label:<10} score {ev.score:.2f} nats/frame  "
            f"(decided at {ev.time:.2f} s)")


def _event_printer(jsonl: bool):
    def show(ev):  # (without tearing a progress bar)
        write_line(json.dumps(ev.to_dict()) if jsonl else format_event(ev))

    return show


# -- commands -----------------------------------------------------------------------------
def cmd_stream(args) -> int:
    from .. import audio
    from ..stream import stream_file

    rec = load_model(args.model)
    seconds = audio.info(args.file).duration_s  # also: a clear error before any output
    n = 0
    show = _event_printer(args.jsonl)
    t0 = time.perf_counter()
    with progress_bar(seconds, "streaming", "s", args.quiet, bar_format=_STREAM_BAR) as bar:

        def consumed(t: float) -> None:  # seconds of audio done, and the real-time factor
            if t > 0:
                bar.set_postfix_str(f"RTF {(time.perf_counter() - t0) / t:.3f}", refresh=False)
            bar.update(min(t, seconds) - bar.n)

        for ev in stream_file(rec, args.file, progress=consumed, **_stream_kwargs(args)):
            show(ev)
            n += 1
    if not args.jsonl:
        print(f"{plural(n, 'event')} in {seconds:.1f} s of audio", file=sys.stderr)
    return EXIT_OK


def sensitivities(text: str) -> tuple:
    """``0,0.25,0.5``: sensitivities for a curve, each between 0 and 1."""
    levels = tuple(unit_float(v.strip()) for v in text.split(","))
    return tuple(sorted(set(levels)))


def format_curve(result: dict) -> str:
    """A keyword-spotting curve as a text table, with its operating point."""
    from ..spotting import MAX_FA_PER_HOUR

    n = result["keywords"]
    lines = [f"{'sensitivity':>11}  {'missed':>14}  {'false alarms':>12}  {'per hour':>8}  {'latency p95':>11}"]
    for r in result["rows"]:
        missed = f"{r['misses']}/{n} ({r['miss_rate']:.3f})" if n else "-"
        lat = f"{r['latency_p95_s']:.2f} s" if r["latency_p95_s"] is not None else "-"
        lines.append(f"{r['sensitivity']:>11.2f}  {missed:>14}  {r['false_alarms']:>12d}  "
                     f"{r['false_alarms_per_hour']:>8.1f}  {lat:>11}")
    best = result["best"]
    if not n:
        lines.append("no keyword of the model in the truth list: only false alarms are counted")
    elif best is None:
        lines.append(f"no sensitivity gives at most {MAX_FA_PER_HOUR:g} false alarm per hour")
    else:
        lines.append(f"fewest misses with at most {MAX_FA_PER_HOUR:g} false alarm per hour: {best['misses']}/{n} "
                     f"({best['miss_rate']:.3f}) at sensitivity {best['sensitivity']:g}")
    return "\n".join(lines)


def cmd_kws(args) -> int:
    from .. import audio
    from ..spotting import read_truth, recordings_in, sweep_many, truth_beside

    if args.json:
        refuse_existing(args.json, args.force, "report")
    files: list[str] = []
    for f in args.files:  # a folder: its recordings that have a truth list beside them
        if not Path(f).is_dir():
            files.append(f)
            continue
        found, without = recordings_in(f)
        if not found:
            raise HmmrecError(f"{f}: no recording in it has a truth list beside it (talk.wav: talk.csv, "
                              "columns label,start,end)")
        if without:
            names = ", ".join(p.name for p in without[:3]) + (", ..." if len(without) > 3 else "")
            print(f"{f}: left out {plural(len(without), 'recording')} without a truth list ({names})",
                  file=sys.stderr)
        files += [str(p) for p in found]
    if args.truth and len(files) > 1:
        raise HmmrecError("--truth names the truth list of one recording; with several, keep each beside its "
                          "recording (talk.wav: talk.csv)")
    rec = load_model(args.model)
    items, truths, seconds = [], [], 0.0
    for f in files:  # every file and truth list checked before any work
        seconds += audio.info(f).duration_s
        truth_path = args.truth or truth_beside(f)
        if truth_path is None:
            raise HmmrecError(f"{f}: no truth list beside it ({Path(f).with_suffix('.csv').name}); "
                              "give one with --truth CSV (columns label,start,end)")
        items.append((f, read_truth(truth_path)))
        truths.append(str(truth_path))
    # adapting, the models follow the events, which differ between sensitivities: a pass for each
    work = seconds * (len(args.sensitivities) if args.adapt else 1)
    with progress_bar(work, "scoring", "s", args.quiet, bar_format=_STREAM_BAR) as bar:
        result = sweep_many(rec, items, args.sensitivities,
                            progress=lambda t: bar.update(min(t, work) - bar.n), **_stream_kwargs(args))
    result = {"model": str(args.model), "files": files, "truth": truths, **result}
    ignored = ", ".join(f"{lab} ({k})" for lab, k in result["ignored"].items())
    what = files[0] if len(files) == 1 else plural(len(files), "recording")
    print(f"{what}: {seconds:.1f} s, {plural(result['keywords'], 'keyword')} to find"
          + (", adapting to each recording's voice" if args.adapt else "")
          + (f"; also said, not the model's keywords: {ignored}" if ignored else ""))
    print(format_curve(result))
    if args.json:
        write_json(args.json, result, args.force)
    return EXIT_OK


def cmd_listen(args) -> int:
    from ..live import listen

    rec = load_model(args.model)

    def started(mic):
        via = "" if mic.device_sr == mic.sr else f", device at {mic.device_sr} Hz resampled"
        until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
        print(f"listening on device {mic.device_index} ({mic.device_name}) at {mic.sr} Hz{via}, {until}",
              file=sys.stderr, flush=True)

    summary = listen(rec, device=args.device, on_event=_event_printer(args.jsonl), duration_s=args.duration,
                     on_start=started, **_stream_kwargs(args))
    if summary["ended"] == "device":
        print("hmmrec: the input device stopped delivering audio", file=sys.stderr)
    print(f"listened {summary['seconds']:.1f} s: {plural(summary['events'], 'event')}, "
          f"{plural(summary['overflows'], 'overflow')}", file=sys.stderr, flush=True)
    return EXIT_OK


def cmd_devices(args) -> int:
    from ..live import NO_MICROPHONE, list_input_devices

    devices = list_input_devices()
    if not devices:  # (NO_MICROPHONE would send the reader back to this very command)
        raise HmmrecError(NO_MICROPHONE.split(":")[0] + ": PortAudio sees no audio input device; plug a microphone in")
    if args.json:
        print(json.dumps(devices, indent=2))
        return EXIT_OK
    width = max(len(d["name"]) for d in devices)
    print(f"  {'index':>5}  {'name':<{width}}  channels  default rate")
    for d in devices:
        mark = "*" if d["is_default"] else " "
        print(f"{mark} {d['index']:>5}  {d['name']:<{width}}  {d['channels']:>8}  {d['default_samplerate']:.0f} Hz")
    print("(* = default input device)")
    return EXIT_OK


def _countdown(message: str) -> None:
    print(message.strip().replace("press Enter to record", "recording") + " in 1 s ...", flush=True)
    time.sleep(COUNTDOWN_S)


def _wait_for_enter(message: str) -> None:
    try:
        input(message)
    except EOFError:
        raise HmmrecError("input closed: stopped recording (use --no-wait when stdin is not a terminal)") from None


def cmd_record(args) -> int:
    from ..record import record_examples

    interactive = sys.stdin.isatty() and not args.no_wait
    written = record_examples(args.label, args.count, args.out, device=args.device, sr=args.sr, max_s=args.max_s,
                              prompt=lambda msg: print(msg, flush=True),
                              wait=_wait_for_enter if interactive else _countdown)
    print(f"recorded {plural(len(written), 'file')} into {args.out}; train on them with "
          f"'hmmrec train {args.out} -o MODEL', or beside a corpus of other voices with "
          f"'hmmrec train CORPUS --own {args.out} -o MODEL'", file=sys.stderr)
    return EXIT_OK


# -- parser -------------------------------------------------------------------------------
def _add_decision_options(p, window: bool, adapt: bool = False) -> None:
    """``adapt``: whether adapting to the voice is on unless turned off (a live session is one voice)."""
    p.add_argument("--sensitivity", type=unit_float, default=None,
                   help="0 (fewest false alarms) .. 1 (fewest misses); default: the recognizer's")
    p.add_argument("--jsonl", action="store_true",
                   help="one JSON object per event: label, start, end, score, time, margin")
    p.add_argument("--adapt", action=argparse.BooleanOptionalAction, default=adapt,
                   help="adapt to the voice heard: each confident event moves its word's models towards it, "
                        "afresh and more cautiously when the voice changes; on for the live microphone, off for "
                        "files (which may hold many voices)")
    if window:
        from ..stream import DEFAULT_HOP_S

        p.add_argument("--window", type=positive_float, default=None, metavar="S",
                       help="window length in seconds (default: fitted to the training data)")
        p.add_argument("--hop", type=positive_float, default=None, metavar="S",
                       help=f"seconds between windows (default {DEFAULT_HOP_S})")


def add_commands(sub) -> None:
    """Register ``stream``, ``listen``, ``devices`` and ``record``."""
    p = sub.add_parser("stream", help="keyword events in a long WAV file, as they are decided")
    p.add_argument("model", help="model file, or a shipped model's name (commands, digits)")
    p.add_argument("file", metavar="FILE")
    _add_decision_options(p, window=True)
    add_quiet_option(p)
    p.set_defaults(func=cmd_stream)

    from ..spotting import DEFAULT_SWEEP

    p = sub.add_parser("kws", help="keyword spotting in recordings scored against what was said: misses and "
                                   "false alarms per hour at each sensitivity")
    p.add_argument("model", help="model file, or a shipped model's name (commands, digits)")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="recordings, each with its truth list beside it, or folders of them")
    p.add_argument("--truth", metavar="CSV",
                   help="what was said in FILE (one): columns label,start,end in seconds (default: the .csv "
                        "beside FILE, as talk.csv for talk.wav)")
    p.add_argument("--sensitivities", type=sensitivities, default=DEFAULT_SWEEP, metavar="S,S,...",
                   help="the sensitivities to score (default 0,0.1,...,1)")
    p.add_argument("--json", metavar="F", help="also write the curve as JSON")
    p.add_argument("--force", action="store_true", help="replace an existing JSON report")
    p.add_argument("--window", type=positive_float, default=None, metavar="S",
                   help="window length in seconds (default: fitted to the training data)")
    p.add_argument("--adapt", action="store_true",
                   help="each recording adapts to its voice as 'hmmrec stream --adapt' does (a pass per sensitivity)")
    add_quiet_option(p)
    p.set_defaults(func=cmd_kws)

    from ..models import DEFAULT

    p = sub.add_parser("listen", help="keyword events live from the microphone (Ctrl-C stops)")
    p.add_argument("model", nargs="?", default=DEFAULT,
                   help=f"model file or shipped model name (default: {DEFAULT}, real speech of many speakers)")
    p.add_argument("--device", type=device, default=None, metavar="NAME|INDEX",
                   help="input device: index or part of the name (see 'hmmrec devices'); default: the system's")
    p.add_argument("--duration", type=positive_float, default=None, metavar="S",
                   help="stop after this many seconds of audio")
    _add_decision_options(p, window=True, adapt=True)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices")
    p.add_argument("--json", action="store_true", help="as a JSON list")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("record", help="record training examples of a word from the microphone")
    p.add_argument("label", help="the word (folder name), e.g. apple; _silence_ records background")
    p.add_argument("--count", type=positive_int, required=True, metavar="N", help="takes to record")
    p.add_argument("--out", required=True, metavar="DIR", help="corpus folder; files go to DIR/LABEL/LABEL_NNN.wav")
    p.add_argument("--device", type=device, default=None, metavar="NAME|INDEX",
                   help="input device: index or part of the name (see 'hmmrec devices')")
    p.add_argument("--sr", type=positive_int, default=DEFAULT_SR,
                   help=f"sample rate of the files (default {DEFAULT_SR})")
    p.add_argument("--max-s", type=positive_float, default=3.0, metavar="S", help="seconds per take (default 3)")
    p.add_argument("--no-wait", action="store_true",
                   help="start each take after a 1 s countdown instead of waiting for Enter "
                        "(always so when stdin is not a terminal)")
    p.set_defaults(func=cmd_record)

"""Subcommands on files: train, eval, recognize, crossval, info.

Parsing and printing only; the work is done by the package. Long commands draw progress
bars on stderr when it is a terminal (not with ``--quiet``) and print their results
only, so that a log or a pipe holds the results and nothing else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import HmmrecError
from ..labels import UNKNOWN, has_several_models
from ..progress import TrainingBars, plural, progress_bar, shows_progress, write_line
from ..recognizer import FILTERBANK_NET_MIN_SPEAKERS
from .common import (EXIT_ERROR, EXIT_OK, add_cluster_options, add_quiet_option, factors, load_model, non_negative_int,
                     on_cluster_of, positive_int, refuse_existing, signed_unit_float, states, unit_float,
                     write_json)

# --filterbank-net as HMMRecognizer's filterbank_net
_FILTERBANK_NET = {"auto": "auto", "on": True, "off": False}


def _recognizer(args):
    """An unfitted recognizer with the training options of ``train`` and ``crossval``."""
    from ..recognizer import HMMRecognizer

    return HMMRecognizer(n_states=args.states, n_mix=args.mix, speeds=args.speeds, warps=args.warps,
                         noise_snrs=args.noise, mmi_iter=args.mmi, net_weight=args.net_weight,
                         filterbank_net=_FILTERBANK_NET[args.filterbank_net], unknown_bias=args.unknown_bias,
                         unknown_models=args.unknown_models,
                         n_jobs=args.jobs)


def cmd_train(args) -> int:
    from ..corpus import Corpus, load_corpus

    out = Path(args.output)
    refuse_existing(out, args.force, "model")
    corpus = load_corpus(args.data)
    own = Corpus(u for data in args.own or [] for u in load_corpus(data))
    labels = sorted(set(corpus.labels) | set(own.labels))
    if len(labels) < 2:
        raise HmmrecError(f"{args.data}: need at least two labels to train a recognizer, found {labels}")

    def per_label(c: Corpus) -> str:
        return ", ".join(f"{k} ({v})" for k, v in c.counts().items())

    rec = _recognizer(args)
    with on_cluster_of(args):
        if shows_progress(args.quiet):  # what the bars are about
            print(f"training on {len(corpus)} files, {len(corpus.labels)} labels: {per_label(corpus)}",
                  file=sys.stderr)
            if own:
                print(f"and {len(own)} of your own, each counted {args.own_weight} times: {per_label(own)}",
                      file=sys.stderr)
        with TrainingBars(quiet=args.quiet) as bars:
            rec.fit(corpus.paths + own.paths, corpus.y + own.y,
                    sample_weight=[1] * len(corpus) + [args.own_weight] * len(own) if own else None,
                    speakers=[u.speaker for u in corpus] + [u.speaker for u in own], progress=bars)
    rec.save(out, overwrite=args.force)
    mine = f" and {len(own)} of your own, each counted {args.own_weight} times," if own else ""
    print(f"saved {out}: {plural(len(rec.classes_), 'label')}, trained on {plural(len(corpus), 'file')}{mine} "
          f"in {rec.training_summary_['seconds']:.1f} s")
    return EXIT_OK


def _few(labels, n: int = 6) -> str:
    """At most ``n`` labels, then how many more."""
    labels = [str(v) for v in labels]
    more = f" and {len(labels) - n} more" if len(labels) > n else ""
    return ", ".join(labels[:n]) + more


def cmd_eval(args) -> int:
    from ..corpus import load_corpus
    from ..evaluate import evaluate_files, format_report, scoring_labels

    if args.json:
        refuse_existing(args.json, args.force, "report")
    rec = load_model(args.model)
    corpus = load_corpus(args.data)
    _, never = scoring_labels(rec.classes_, corpus.labels)
    if len(never) == len(corpus.labels):  # no file could ever be right: say so instead of reporting 0
        stand_in = "" if UNKNOWN in rec.classes_ else ", and the model has no _unknown_ to stand for them"
        raise HmmrecError(f"{args.data}: none of its labels ({_few(corpus.labels)}) is one of the model's "
                          f"({_few(rec.classes_)}){stand_in}")
    with on_cluster_of(args):
        if args.adapt:  # to each speaker of DATA, without its labels; the features serve both steps
            from ..evaluate import evaluate_adapted, file_features

            with progress_bar(len(corpus), "features", "file", args.quiet) as bar:
                feats, speech, views = file_features(rec, corpus.paths, args.jobs, speech=True,
                                                     progress=lambda done, _: bar.update(done - bar.n))
            with progress_bar(len(corpus), "recognising", "file", args.quiet) as bar:  # (adapting too)
                report, hows = evaluate_adapted(rec, corpus, feats, speech, views, n_jobs=args.jobs,
                                                progress=lambda done, _: bar.update(done - bar.n))
            voices = f"each of its {len(hows)} speakers" if len(hows) > 1 else "its files as one voice"
            print(f"adapted to {voices}: {report['adapted_files_used']} of {len(corpus)} files recognised confidently "
                  f"enough, {len({lab for h in hows for lab in h.labels})} word models moved", file=sys.stderr)
        else:
            with progress_bar(len(corpus), "recognising", "file", args.quiet) as bar:
                report = evaluate_files(rec, corpus, n_jobs=args.jobs,
                                        progress=lambda done, _: bar.update(done - bar.n))
    report["model"] = str(args.model)
    report["data"] = str(args.data)
    report["adapted"] = bool(args.adapt)
    print(format_report(report))
    if args.json:
        write_json(args.json, report, args.force)
    return EXIT_OK


def cmd_recognize(args) -> int:
    from ..speech import speech_than
    from ..stream.decide import recognize_and_judge

    rec = load_model(args.model)
    failed = 0
    for f in args.files:
        try:
            # --json also says whether it is one of the model's keywords at all (the stream's verdict)
            r, v = recognize_and_judge(rec, f) if args.json else (rec.recognize(f), None)
        except HmmrecError as exc:
            print(f"hmmrec: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        ranked = r.ranked()
        if args.brief:
            print(f"{f}\t{r.label}\t{r.confidence:.3f}")
        elif args.json:
            print(json.dumps({"file": f, "label": r.label, "confidence": round(r.confidence, 4),
                              "accepted": v.accepted, "rejected_because": v.rejected_because or None,
                              "ruled_out_by_speech": sorted(str(r.labels[k]) for k in r.ruled_out),
                              "scores": {lab: round(ll, 3) for lab, ll, _ in ranked},
                              "proba": {lab: round(p, 4) for lab, _, p in ranked}}))
        else:
            print(f"{f}: {r.label}  (confidence {r.confidence:.3f})")
            out = {str(r.labels[k]) for k in r.ruled_out}
            for lab, ll, p in ranked:
                why = f"   (ruled out: the file holds {speech_than(lab)} training clips)" if lab in out else ""
                print(f"    {lab:<16} log-lik {ll:12.2f}   p {p:.3f}{why}")
    return EXIT_ERROR if failed else EXIT_OK


def cmd_crossval(args) -> int:
    from ..corpus import kfold, leave_one_speaker_out, load_corpus, split_by_speaker, split_by_take
    from ..evaluate import evaluate_adapted, evaluate_files, file_features, summarize_folds

    if args.json:
        refuse_existing(args.json, args.force, "report")
    corpus = load_corpus(args.data)
    if args.by == "speaker":
        folds = [(spk, tr, te) for spk, tr, te in leave_one_speaker_out(corpus)]
    elif args.by == "take":
        tr, te = split_by_take(corpus, args.test_takes)
        folds = [("takes<%d" % args.test_takes, tr, te)]
    elif args.by == "speaker-split":
        tr, te = split_by_speaker(corpus, args.test_size, args.seed)
        folds = [("speaker-split", tr, te)]
    else:
        folds = [(f"fold{i}", tr, te) for i, (tr, te) in enumerate(kfold(corpus, args.k, args.seed))]
    accs, reports, plain = {}, {}, {}
    with on_cluster_of(args), progress_bar(len(folds), "folds", "fold", args.quiet) as bar:
        for k, (name, tr, te) in enumerate(folds, 1):
            bar.set_description(f"fold {k} of {len(folds)}", refresh=False)

            def training(event):  # (drawn at the bar's pace, not at every event)
                bar.set_postfix_str(f"training: {event.brief}", refresh=False)
                bar.update(0)

            def testing(done, total):
                bar.set_postfix_str(f"testing: {done}/{total} files", refresh=False)
                bar.update(0)

            rec = _recognizer(args)
            rec.fit(tr.paths, tr.y, speakers=[u.speaker for u in tr], progress=training)
            if args.adapt:  # the same test files without and with adapting to each of their speakers
                feats, speech, views = file_features(rec, te.paths, args.jobs, speech=True, progress=testing)
                plain[name] = evaluate_files(rec, te, feats, args.jobs, None, speech, views)["accuracy"]
                rep, _ = evaluate_adapted(rec, te, feats, speech, views, n_jobs=args.jobs)
                before = f" adapted ({plain[name]:.4f} not adapted)"
            else:
                rep, before = evaluate_files(rec, te, n_jobs=args.jobs, progress=testing), ""
            accs[name], reports[name] = rep["accuracy"], rep
            write_line(f"{name}: accuracy {rep['accuracy']:.4f}{before} ({rep['n']} test files, {len(tr)} train)")
            bar.update(1)
    summary = summarize_folds(accs)
    adapted = " adapted" if args.adapt else ""
    print(f"mean accuracy{adapted} {summary['mean']:.4f}, worst {summary['worst']:.4f} ({summary['worst_fold']})")
    out = {"by": args.by, "adapted": bool(args.adapt), **summary}
    if args.adapt:
        out["not_adapted"] = summarize_folds(plain)
        print(f"not adapted: mean {out['not_adapted']['mean']:.4f}, worst {out['not_adapted']['worst']:.4f} "
              f"({out['not_adapted']['worst_fold']})")
    if args.json:
        write_json(args.json, {**out, "reports": reports}, args.force)
    return EXIT_OK


def cmd_info(args) -> int:
    from ..speech import MARGIN_S, NO_SPEECH_SHARE

    rec = load_model(args.model)
    cfg = rec.feature_config_
    print(f"{args.model}: {len(rec.classes_)} labels, features {cfg.n_features}-dim at {cfg.sr} Hz")
    data = rec.training_summary_.get("data")
    if isinstance(data, dict):  # where the training data came from, and its licence
        for key in ("name", "licence", "attribution"):
            if data.get(key):
                print(f"  {key}: {data[key]}")
    for k, (lab, m, sm) in enumerate(zip(rec.classes_, rec.models_, rec.stream_models_)):
        stream = f" ({sm.n_mix} when streaming)" if sm is not m else ""
        more = sum(1 for j in rec.extra_labels_ if j == k)
        models = f" (and {more} more stream models)" if more else ""
        limit, none = rec.speech_limits_.get(str(lab)), rec.no_speech_share_.get(str(lab))
        speech = f"; not for a file with over {limit + MARGIN_S:.2f} s of speech" if limit is not None else ""
        if none is not None and none <= NO_SPEECH_SHARE:
            speech = "; not for a file without speech"
        print(f"    {lab:<16} {m.n_states:2d} states x {m.n_mix} Gaussians{stream}{models}, "
              f"{rec.n_examples_.get(str(lab), '?')} training files{speech}")
    if rec.frame_net_ is not None:
        nets = [n for n in (rec.frame_net_, rec.filterbank_net_) if n is not None]
        kind = "two frame classifiers" if len(nets) > 1 else "a frame classifier"
        print(f"  {rec.frame_net_.weight:.0%} of each file's scores from {kind}:")
        for net in nets:
            print(f"    {net.describe()}")
    several = [str(c) for c in rec.classes_ if has_several_models(c)]
    if several and rec.unknown_bias:
        print(f"  {', '.join(several)}: {rec.unknown_bias:+g} nats per frame when files are classified (unknown_bias)")
    if rec.keyword_mask_.any():
        from ..stream import sensitivity_to_min_score, strictest_score

        lead = rec.training_summary_.get("keyword_lead_p50")  # (checked when the file was read)
        why = (f" (the higher of {sensitivity_to_min_score(0):.2f} and its training keywords' median lead, {lead:.2f})"
               if lead is not None else "")
        print(f"  streaming: a word needs a score of {strictest_score(rec):.2f} at sensitivity 0{why}, "
              f"{sensitivity_to_min_score(0.5):.2f} at the default 0.5, {sensitivity_to_min_score(1):.2f} at 1")
    return EXIT_OK


def cmd_manifest(args) -> int:
    from ..manifest import rows_from_pattern, split_rows, write_manifest

    rows = rows_from_pattern(args.folder, args.pattern)
    out = Path(args.output)
    split = None
    if args.test_takes is not None or args.test_speakers:
        speakers = [s for s in (args.test_speakers or "").split(",") if s]
        split = split_rows(rows, args.test_takes, speakers or None)
        names = [out.with_name(f"{out.stem}.{part}{out.suffix or '.csv'}") for part in ("train", "test")]
        for p in [out] + names:  # refuse before writing any of them
            refuse_existing(p, args.force, "manifest")
    write_manifest(out, rows, force=args.force)
    labels = sorted({r.label for r in rows})
    speakers = {r.fields["speaker"] for r in rows if "speaker" in r.fields}
    who = f", {len(speakers)} speakers" if speakers else ""
    print(f"wrote {out}: {len(rows)} files, {len(labels)} labels{who}")
    if split:
        for p, part in zip(names, split):
            write_manifest(p, part, force=args.force)
            print(f"wrote {p}: {len(part)} files")
    return EXIT_OK


def _add_training_options(p):
    from ..recognizer import HMMRecognizer

    d = HMMRecognizer().get_params()  # the estimator's defaults are the command's

    def shown(v):
        return ",".join(f"{x:g}" for x in v) if v else "none"

    p.add_argument("--states", type=states, default=d["n_states"], help="states per word model, or 'auto' (default)")
    p.add_argument("--mix", type=positive_int, default=d["n_mix"], help=f"Gaussians per state (default {d['n_mix']})")
    p.add_argument("--speeds", type=factors, default=d["speeds"],
                   help=f"speed-perturbed copies of the training data, e.g. 0.9,1.1 (default: {shown(d['speeds'])})")
    p.add_argument("--warps", type=factors, default=d["warps"],
                   help="copies with the filterbank warped (vocal tract length), e.g. 0.9,1.1, or none "
                        f"(default: {shown(d['warps'])})")
    p.add_argument("--noise", type=factors, default=d["noise_snrs"],
                   help="copies with background noise mixed in at these lowest SNRs in dB (each v: v to v+10 dB), "
                        "or none; the noise is the training data's own background (e.g. _silence_), else white, "
                        f"pink and brown noise (default: {shown(d['noise_snrs'])})")
    p.add_argument("--mmi", type=non_negative_int, default=d["mmi_iter"],
                   help="iterations of discriminative (maximum mutual information) training after the "
                        f"maximum-likelihood one, 0 for none (default {d['mmi_iter']})")
    p.add_argument("--net-weight", type=unit_float, default=d["net_weight"],
                   help="share of each file's scores from a frame classifier trained beside the Gaussians, "
                        f"0 for none: training several times faster (default {d['net_weight']:g})")
    p.add_argument("--filterbank-net", choices=tuple(_FILTERBANK_NET), default="auto",
                   help="a second frame classifier, reading a log mel filterbank: auto trains it when the files "
                        f"name at least {FILTERBANK_NET_MIN_SPEAKERS} speakers (on fewer voices it learns theirs), "
                        "off halves the networks' training time (default auto)")
    p.add_argument("--no-filterbank-net", dest="filterbank_net", action="store_const", const="off",
                   help="the same as --filterbank-net off")
    p.add_argument("--unknown-bias", type=signed_unit_float, default=d["unknown_bias"],
                   help="nats per frame added to _unknown_ when files are classified: more leaves more unknown "
                        f"words to it, fewer to the keywords (default {d['unknown_bias']:g})")
    p.add_argument("--unknown-models", type=positive_int, default=d["unknown_models"],
                   help="models for each non-keyword label of speech such as _unknown_, one per group of similar "
                        f"examples (at most one per 5 examples; default {d['unknown_models']})")
    add_cluster_options(p)




def add_commands(sub) -> None:
    """Register ``train``, ``eval``, ``recognize``, ``crossval`` and ``info``."""
    from ..recognizer import DEFAULT_OWN_WEIGHT

    p = sub.add_parser("train", help="train word models on a folder-per-label tree or a CSV manifest")
    p.add_argument("data", help="folder whose subfolders are labels, or a CSV manifest (path,label[,speaker])")
    p.add_argument("-o", "--output", required=True, help="model file to write")
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    add_quiet_option(p)
    p.add_argument("--own", action="append", metavar="DATA",
                   help="recordings of your own voice (folder-per-label tree or manifest, e.g. from 'hmmrec record'), "
                        "trained on with DATA, each counted --own-weight times; may be repeated")
    p.add_argument("--own-weight", type=positive_int, default=DEFAULT_OWN_WEIGHT,
                   help=f"how many times each of your own recordings counts (default {DEFAULT_OWN_WEIGHT})")
    _add_training_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a model on held-out labelled files")
    p.add_argument("model", help="model file, or a shipped model's name (commands, digits)")
    p.add_argument("data", help="folder-per-label tree or CSV manifest")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--force", action="store_true", help="replace an existing JSON report")
    p.add_argument("--adapt", action="store_true",
                   help="first adapt the models to the voice of DATA, without its labels: to each speaker apart "
                        "when every file names one (manifest column, or file names), else to all files as one "
                        "voice; for many recordings of a voice the model has not heard much; a few files of a "
                        "model of many voices come out worse")
    add_quiet_option(p)
    add_cluster_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("recognize", help="best label and per-label scores for each file")
    p.add_argument("model", help="model file, or a shipped model's name (commands, digits)")
    p.add_argument("files", nargs="+", metavar="FILE")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object per file")
    form.add_argument("--brief", action="store_true", help="one line per file: path, label, confidence (tab-separated)")
    p.set_defaults(func=cmd_recognize)

    p = sub.add_parser("crossval", help="train and test on splits of one corpus")
    p.add_argument("data")
    p.add_argument("--by", choices=["speaker", "speaker-split", "take", "kfold"], default="kfold",
                   help="leave-one-speaker-out, one speaker-disjoint split, FSDD-style takes, or stratified k-fold")
    p.add_argument("--k", type=positive_int, default=5, help="folds for --by kfold (default 5)")
    p.add_argument("--test-takes", type=positive_int, default=5, help="takes 0..N-1 are test for --by take")
    p.add_argument("--test-size", type=float, default=0.25, help="share of speakers for --by speaker-split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--force", action="store_true")
    p.add_argument("--adapt", action="store_true",
                   help="also adapt each fold's models to each of its test speakers, without labels (as eval --adapt), "
                        "and report both")
    add_quiet_option(p)
    _add_training_options(p)
    p.set_defaults(func=cmd_crossval)

    p = sub.add_parser("manifest", help="a CSV manifest from the labels in file names (e.g. FSDD's)")
    p.add_argument("folder", help="folder of audio files (searched with its subfolders)")
    p.add_argument("--pattern", required=True,
                   help="path below FOLDER with fields, e.g. '{label}_{speaker}_{take}.wav'; * matches anything "
                        "but /, **/ any folders; {label} is required")
    p.add_argument("-o", "--output", required=True, help="manifest to write (CSV)")
    p.add_argument("--test-takes", type=positive_int, metavar="N",
                   help="also write OUTPUT.train.csv and OUTPUT.test.csv: takes 0..N-1 are test")
    p.add_argument("--test-speakers", metavar="A,B",
                   help="also write OUTPUT.train.csv and OUTPUT.test.csv: these speakers are test")
    p.add_argument("--force", action="store_true", help="replace existing manifests")
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model", help="model file, or a shipped model's name (commands, digits)")
    p.set_defaults(func=cmd_info)

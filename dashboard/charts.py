"""Altair charts of the dashboard: waveforms, Viterbi states, spectrograms, heatmaps, timelines.

Interactive (hover for values; stacked panels share one time axis in seconds and zoom
together) and purely presentational: they draw what the :mod:`hmmrec` API computed.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from hmmrec.labels import is_keyword
from hmmrec.features import extract

WAVE_POINTS = 1500  # min/max envelope buckets drawn for a waveform
MAX_HEATMAP_COLUMNS = 400  # time columns of a spectrogram or MFCC heatmap
SPEC_FLOOR_DB = 80.0  # dynamic range of the spectrogram colour scale
SPEC_MAX_BINS = 128
SCORE_FLOOR = -6.0  # stream score curves are clamped here (nats per frame)
WINNER_COLOR = "#ff4b4b"
HEAT_RANGE = ("#ffffff", "#08306b")  # white (0) to dark blue (1)
OTHER_COLOR = "#a3a8b8"
WAVE_COLOR = "#56657a"
CHART_WIDTH = "container"
AXIS_EXTENT = 48  # px for y-axis labels, the same in every stacked panel so time axes line up
# type sizes (px), readable at 1400 px wide in every chart (Streamlit's theme: 12 px labels, 14 px titles)
AXIS_LABEL_SIZE = 12
AXIS_TITLE_SIZE = 13
TEXT_SIZE = 11  # numbers and names written on a plot
MIN_LABEL_GAP_PX = 2 * AXIS_LABEL_SIZE  # at least this far apart, axis labels of a dense heatmap
FILLER = "filler"  # what the models call the sound around a word (state -1 of a Viterbi path)
MFCC_ROW_PX = 5  # height of a feature row of the MFCC heatmap (a whole number: see mfcc_chart)
# the outer padding (share of a band) of a heatmap's band scales: with none, a width or
# height that is no whole multiple of the rows puts the first band a rounding error outside
# the axis range, and Vega drops its label (the "0" or "c0" of the axis)
BAND_EDGE = 0.02
PLOT_PX = 1200  # about how wide a full-width plot is on a 1400 px page (to judge what text fits)
CHAR_PX = 0.6 * TEXT_SIZE  # about how wide a character of TEXT_SIZE is

alt.data_transformers.disable_max_rows()


def time_x(field_: str = "t", title: str | None = "time (s)", domain=None, **kw) -> alt.X:
    """A quantitative time axis in seconds, fixed to ``domain`` (start, end) if given."""
    scale = alt.Scale(domain=list(domain), nice=False, zero=False) if domain is not None else alt.Undefined
    return alt.X(f"{field_}:Q", title=title, scale=scale, **kw)


def envelope(y: np.ndarray, sr: int, t0: float = 0.0, n_max: int = WAVE_POINTS) -> pd.DataFrame:
    """Min/max envelope of a signal in at most ``n_max`` buckets (columns t, lo, hi)."""
    if not len(y):
        return pd.DataFrame({"t": [], "lo": [], "hi": []})
    step = max(1, int(np.ceil(len(y) / n_max)))
    pad = (-len(y)) % step
    yy = np.pad(np.asarray(y, dtype=np.float32), (0, pad), mode="edge").reshape(-1, step)
    return pd.DataFrame({"t": t0 + np.arange(len(yy)) * step / sr, "lo": yy.min(1), "hi": yy.max(1)})


def waveform_chart(y: np.ndarray, sr: int, domain, height: int = 130, t0: float = 0.0,
                   title: str = "waveform") -> alt.Chart:
    peak = float(max(np.abs(y).max(), 1e-3)) if len(y) else 1.0
    return alt.Chart(envelope(y, sr, t0), title=title).mark_area(clip=True, color=WAVE_COLOR, opacity=0.85).encode(
        x=time_x(domain=domain, title=None),
        y=alt.Y("lo:Q", title="amplitude", scale=alt.Scale(domain=[-peak, peak])),
        y2="hi:Q",
        tooltip=[alt.Tooltip("t:Q", title="time (s)", format=".3f")],
    ).properties(height=height, width=CHART_WIDTH)


def state_runs(states: np.ndarray, hop_s: float, win_s: float) -> pd.DataFrame:
    """Runs of equal states of a Viterbi path: state, start, end (s), frames."""
    states = np.asarray(states)
    if not len(states):
        return pd.DataFrame({"state": [], "start": [], "end": [], "frames": []})
    change = np.flatnonzero(np.diff(states)) + 1
    first = np.r_[0, change]
    stop = np.r_[change, len(states)]
    end = stop * hop_s
    end[-1] = (len(states) - 1) * hop_s + win_s
    return pd.DataFrame({"state": states[first].astype(int), "start": first * hop_s, "end": end,
                         "frames": stop - first})


def state_bands(runs: pd.DataFrame, label: str) -> alt.Chart:
    """Coloured bands behind a waveform: which stretch of audio each word state took.

    Stretches the background model explains (state -1: silence or noise around the
    word) get no band.
    """
    base = alt.Chart(runs[runs["state"] >= 0].assign(model=label))
    bands = base.mark_rect(clip=True, opacity=0.22).encode(
        x="start:Q", x2="end:Q",
        color=alt.Color("state:N", legend=None, scale=alt.Scale(scheme="tableau10")),
        tooltip=[alt.Tooltip("model:N"), alt.Tooltip("state:Q"), alt.Tooltip("start:Q", format=".2f", title="from (s)"),
                 alt.Tooltip("end:Q", format=".2f", title="to (s)"), alt.Tooltip("frames:Q")],
    )
    text = base.transform_calculate(mid="(datum.start + datum.end) / 2").mark_text(
        clip=True, baseline="top", dy=2, fontSize=TEXT_SIZE, color="#444").encode(
        x="mid:Q", y=alt.value(0), text="state:Q")
    return bands + text


def filler_parts(runs: pd.DataFrame) -> list[str]:
    """What each run of a Viterbi path is: ``"state 3"``, or the filler before or after the word."""
    word = np.flatnonzero(runs["state"].to_numpy() >= 0)
    first = word[0] if len(word) else len(runs)
    return [f"state {s}" if s >= 0 else f"{FILLER} ({'before' if i < first else 'after'} the word)"
            for i, s in enumerate(runs["state"])]


def state_ticks(top: int, height: int) -> list[int]:
    """Ticks of a state axis from -1 (the filler) to ``top`` on ``height`` px: -1, then
    every 1, 2, 5 or 10 states, labels at least ``MIN_LABEL_GAP_PX`` apart."""
    px = height / (top + 1)
    step = next((k for k in (1, 2, 5, 10) if k * px >= MIN_LABEL_GAP_PX), 10 * int(np.ceil(MIN_LABEL_GAP_PX / px / 10)))
    return [-1] + [v for v in range(0, top + 1, step) if v + 1 >= step]


def state_path_chart(runs: pd.DataFrame, label: str, n_states: int, domain, winner: bool) -> alt.Chart:
    """The Viterbi state sequence as a step chart (x: time in seconds, y: state).

    The stretches before and after the word, which the filler model explains (state -1),
    sit below state 0 on a grey band named "filler (before the word)" / "(after the word)".
    """
    runs = runs.assign(part=filler_parts(runs))
    pts = pd.concat([runs[["start", "state"]].rename(columns={"start": "t"}),
                     pd.DataFrame({"t": [runs["end"].iloc[-1]], "state": [runs["state"].iloc[-1]]})],
                    ignore_index=True)
    color = WINNER_COLOR if winner else WAVE_COLOR
    top = max(n_states - 1, 1)
    height = max(70, min(130, 9 * n_states))
    y_scale = alt.Scale(domain=[-1, top])
    line = alt.Chart(pts).mark_line(clip=True, interpolate="step-after", color=color, strokeWidth=2).encode(
        x=time_x(domain=domain, title=None),
        y=alt.Y("state:Q", title="state", scale=y_scale,
                axis=alt.Axis(values=state_ticks(top, height), labelFlush=False, labelOverlap=False,
                              labelExpr=f"datum.value < 0 ? '{FILLER}' : datum.label")),
    )
    hover = alt.Chart(runs).mark_rect(clip=True, opacity=0).encode(
        x="start:Q", x2="end:Q",
        tooltip=[alt.Tooltip("part:N", title="stretch"), alt.Tooltip("start:Q", format=".2f", title="from (s)"),
                 alt.Tooltip("end:Q", format=".2f", title="to (s)"), alt.Tooltip("frames:Q")])
    px_per_s = PLOT_PX / ((domain[1] - domain[0]) or 1.0)

    def fitting(part: str, seconds: float) -> str:
        """The longest name of a filler stretch that fits in it (at full width)."""
        names = [part, part.replace(" the word", ""), FILLER]  # filler (before the word), filler (before), filler
        return next((n for n in names if seconds * px_per_s >= (len(n) + 2) * CHAR_PX), FILLER)

    filler = runs[runs["state"] < 0].assign(
        mid=lambda d: (d["start"] + d["end"]) / 2,
        name=lambda d: [fitting(p, e - b) for p, b, e in zip(d["part"], d["start"], d["end"])])
    band = alt.Chart(filler).mark_rect(clip=True, color=OTHER_COLOR, opacity=0.18).encode(
        x=time_x("start", domain=domain, title=None), x2="end:Q")
    names = alt.Chart(filler).mark_text(clip=True, baseline="bottom", dy=-3, fontSize=TEXT_SIZE, fontStyle="italic",
                                        color="#555").encode(x="mid:Q", y=alt.datum(-1), text="name:N")
    title = f"Viterbi states of the “{label}” model" + (" (best match)" if winner else "")
    return (band + line + names + hover).properties(title=title, height=height, width=CHART_WIDTH)


def _downsample_columns(a: np.ndarray, n_max: int) -> tuple[np.ndarray, int]:
    """Average groups of columns (time frames, axis 0) so at most ``n_max`` remain."""
    step = max(1, int(np.ceil(len(a) / n_max)))
    if step == 1:
        return a, 1
    pad = (-len(a)) % step
    a = np.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1), mode="edge")
    return a.reshape(-1, step, *a.shape[1:]).mean(axis=1), step


def _top_legend(title: str) -> alt.Legend:
    """A horizontal colour legend above the plot (keeps stacked panels equally wide)."""
    return alt.Legend(title=title, orient="top", direction="horizontal", gradientLength=160, titleOrient="left")


def spectrogram_chart(y: np.ndarray, sr: int, cfg, domain, height: int = 160) -> alt.Chart:
    from scipy.signal import spectrogram

    nper = min(cfg.win_samples, len(y))
    hop = cfg.hop_samples
    f, t, sxx = spectrogram(y, fs=sr, nperseg=nper, noverlap=max(nper - hop, 0), nfft=max(cfg.n_fft, nper),
                            window="hann", mode="psd")
    db = 10 * np.log10(sxx + 1e-12)
    db = np.maximum(db, db.max() - SPEC_FLOOR_DB)
    # fewer frequency bins: average neighbours
    fstep = max(1, int(np.ceil(len(f) / SPEC_MAX_BINS)))
    nb = len(f) // fstep
    db = db[: nb * fstep].reshape(nb, fstep, -1).mean(axis=1)
    df_hz = f[fstep] - f[0] if len(f) > fstep else sr / 2
    cols, tstep = _downsample_columns(db.T, MAX_HEATMAP_COLUMNS)
    dt = (t[1] - t[0]) * tstep if len(t) > 1 else hop / sr
    t0 = (t[0] if len(t) else 0.0) - (hop / sr) / 2
    ti, fi = np.meshgrid(np.arange(cols.shape[0]), np.arange(cols.shape[1]), indexing="ij")
    data = pd.DataFrame({"t": t0 + ti.ravel() * dt, "t2": t0 + (ti.ravel() + 1) * dt,
                         "f": fi.ravel() * df_hz, "f2": (fi.ravel() + 1) * df_hz,
                         "dB": np.round(cols.ravel(), 1)})
    return alt.Chart(data, title="spectrogram").mark_rect(clip=True).encode(
        x=time_x(domain=domain, title=None), x2="t2:Q",
        y=alt.Y("f:Q", title="frequency (Hz)", scale=alt.Scale(domain=[0, sr / 2], nice=False)), y2="f2:Q",
        color=alt.Color("dB:Q", scale=alt.Scale(scheme="magma"), legend=_top_legend("dB")),
        tooltip=[alt.Tooltip("t:Q", title="time (s)", format=".2f"), alt.Tooltip("f:Q", title="Hz", format=".0f"),
                 alt.Tooltip("dB:Q", format=".1f")],
    ).properties(height=height, width=CHART_WIDTH)


def feature_names(cfg) -> list[str]:
    names = [f"c{i}" for i in range(cfg.n_mfcc)]
    prefixes = ["", "Δ", "ΔΔ"][: cfg.order + 1]
    return [p + n for p in prefixes for n in names]


def row_labels(names: list[str], n_per_block: int, height: int) -> list[str]:
    """The rows of a heatmap ``height`` px high worth labelling: in each block of
    ``n_per_block`` rows (c0.., Δc0.., ΔΔc0..) its first and then every few, so that
    labels stay at least ``MIN_LABEL_GAP_PX`` apart."""
    step = max(1, int(np.ceil(MIN_LABEL_GAP_PX * len(names) / max(height, 1))))
    return [n for i, n in enumerate(names)
            if i % n_per_block == 0 or (i % n_per_block % step == 0 and i % n_per_block + step <= n_per_block)]


def mfcc_chart(y: np.ndarray, cfg, domain, row_px: int = MFCC_ROW_PX) -> alt.Chart:
    """The normalised features of ``y`` (rows c0.., Δc0.., ΔΔc0.., ``row_px`` px each) over time.

    A whole number of pixels per row: with a fractional band, Vega places the first row a
    rounding error above the top of the axis and drops its label ("c0").
    """
    feats = extract(y, cfg)
    names = feature_names(cfg)
    height = row_px * len(names)
    cols, step = _downsample_columns(feats, MAX_HEATMAP_COLUMNS)
    dt = cfg.hop_s * step
    ti, fi = np.meshgrid(np.arange(cols.shape[0]), np.arange(cols.shape[1]), indexing="ij")
    data = pd.DataFrame({"t": ti.ravel() * dt, "t2": (ti.ravel() + 1) * dt,
                         "feature": np.array(names)[fi.ravel()], "value": np.round(cols.ravel(), 2)})
    lim = float(np.percentile(np.abs(cols), 99)) if cols.size else 1.0
    return alt.Chart(data, title="MFCC + Δ + ΔΔ (normalised features the models see)").mark_rect(clip=True).encode(
        x=time_x(domain=domain, title="time (s)"), x2="t2:Q",
        y=alt.Y("feature:N", sort=names, title="feature",
                axis=alt.Axis(labelFontSize=AXIS_LABEL_SIZE, values=row_labels(names, cfg.n_mfcc, height),
                              labelFlush=False, labelOverlap=False)),
        color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domain=[-lim, lim], reverse=True, clamp=True),
                        legend=_top_legend("σ")),
        tooltip=[alt.Tooltip("t:Q", title="time (s)", format=".2f"), "feature:N", alt.Tooltip("value:Q", format=".2f")],
    ).properties(height=height, width=CHART_WIDTH)


def zoomable(charts: list, name: str) -> alt.VConcatChart:
    """Charts stacked on one shared time axis; drag to pan, scroll to zoom (any panel)."""
    out = []
    for i, c in enumerate(charts):
        zoom = alt.selection_interval(bind="scales", encodings=["x"], name=f"{name}_zoom{i}")
        out.append(c.add_params(zoom) if i == 0 else c)
    return legible(alt.vconcat(*out, spacing=8).resolve_scale(x="shared", color="independent").configure_view(
        strokeWidth=0)).configure_axisY(minExtent=AXIS_EXTENT)


def legible(chart):
    """A top-level chart with type sizes readable at 1400 px wide (axes, legends, titles)."""
    return chart.configure_axis(labelFontSize=AXIS_LABEL_SIZE, titleFontSize=AXIS_TITLE_SIZE).configure_legend(
        labelFontSize=AXIS_LABEL_SIZE, titleFontSize=AXIS_LABEL_SIZE).configure_title(fontSize=14)


def loglik_chart(scores) -> alt.Chart:
    """Per-word log-likelihood per frame, best first, winner highlighted."""
    n = max(scores.n_frames, 1)
    data = pd.DataFrame({"label": scores.labels, "per_frame": scores.loglik / n, "total": scores.loglik,
                         "p": scores.proba, "winner": [i == scores.best for i in range(len(scores.labels))]})
    data = data.replace([np.inf, -np.inf], np.nan).dropna()
    lo = float(data["per_frame"].min())
    hi = float(data["per_frame"].max())
    pad = max((hi - lo) * 0.08, 0.5)
    order = list(data.sort_values("per_frame", ascending=False)["label"])
    base = alt.Chart(data).encode(
        y=alt.Y("label:N", sort=order, title=None),
        x=alt.X("per_frame:Q", title="log-likelihood per frame (nats)",
                scale=alt.Scale(domain=[lo - pad, hi + pad], zero=False, nice=False)),
        tooltip=[alt.Tooltip("label:N", title="word"), alt.Tooltip("per_frame:Q", format=".2f", title="per frame"),
                 alt.Tooltip("total:Q", format=".1f", title="total log-lik"),
                 alt.Tooltip("p:Q", format=".1%", title="posterior")],
    )
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        x2=alt.datum(lo - pad),
        color=alt.condition("datum.winner", alt.value(WINNER_COLOR), alt.value(OTHER_COLOR)))
    text = base.mark_text(align="left", dx=4, fontSize=TEXT_SIZE).encode(text=alt.Text("per_frame:Q", format=".2f"))
    return (bars + text).properties(height=max(120, 26 * len(data)), width=CHART_WIDTH,
                                    title="Score of every word model")


def spotting_curve_chart(rows, current: float) -> alt.LayerChart:
    """Keywords missed against false alarms per hour, one point per distinct outcome
    (the sensitivities that give it written beside it), the one of ``current`` (or the
    nearest setting) highlighted: the curve the knob moves along."""
    data = pd.DataFrame(rows)
    near = float(data["sensitivity"].iloc[int(np.argmin(np.abs(data["sensitivity"] - current)))])
    groups = []
    for (fa, miss), g in data.groupby(["false_alarms_per_hour", "miss_rate"], sort=False):
        lo, hi = float(g["sensitivity"].min()), float(g["sensitivity"].max())
        groups.append({"false_alarms_per_hour": fa, "miss_rate": miss, "order": lo,
                       "settings": f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}",
                       "misses": int(g["misses"].iloc[0]), "false_alarms": int(g["false_alarms"].iloc[0]),
                       "now": bool((g["sensitivity"] == near).any())})
    data = pd.DataFrame(groups)
    top = max(2.0, float(data["false_alarms_per_hour"].max()) * 1.1)  # an axis even when there are none
    base = alt.Chart(data).encode(
        x=alt.X("false_alarms_per_hour:Q", title="false alarms per hour", scale=alt.Scale(domain=[0, top])),
        y=alt.Y("miss_rate:Q", title="keywords missed", scale=alt.Scale(domain=[0, 1])),
        order="order:Q",
        tooltip=[alt.Tooltip("settings:N", title="sensitivity"), alt.Tooltip("misses:Q", title="missed"),
                 alt.Tooltip("miss_rate:Q", format=".3f", title="miss rate"),
                 alt.Tooltip("false_alarms:Q", title="false alarms"),
                 alt.Tooltip("false_alarms_per_hour:Q", format=".1f", title="per hour")])
    line = base.mark_line(color=OTHER_COLOR)
    points = base.mark_point(filled=True, size=70).encode(
        color=alt.condition("datum.now", alt.value(WINNER_COLOR), alt.value(WAVE_COLOR)))
    text = base.mark_text(align="left", dx=7, dy=-7, fontSize=TEXT_SIZE).encode(text="settings:N")
    return (line + points + text).properties(height=260, width=CHART_WIDTH,
                                             title="Misses and false alarms at every sensitivity")


def band_scale() -> alt.Scale:
    """A band scale for the rows or columns of a heatmap whose first label is never lost (see BAND_EDGE)."""
    return alt.Scale(paddingOuter=BAND_EDGE)


def heatmap(data: pd.DataFrame, x: str, y: str, value: str, *, x_title: str, y_title: str, value_title: str,
            scheme: str = "blues", fmt: str = ".2f", text: bool = True, height: int | None = None,
            x_sort=None, y_sort=None, domain=None, x_label_angle: int = 0, text_min: float | None = None,
            text_fmt: str | None = None) -> alt.Chart:
    """A labelled heatmap of a long-format DataFrame.

    ``text``: write each cell's value (``text_fmt``, default ``fmt``) on it; with
    ``text_min`` only the values from ``text_min`` up (the colour shows the rest).
    """
    if isinstance(scheme, (list, tuple)):  # explicit colour range, low to high
        scale = alt.Scale(range=list(scheme), interpolate="rgb", domain=alt.Undefined if domain is None else domain)
    else:
        scale = alt.Scale(scheme=scheme, domain=domain) if domain is not None else alt.Scale(scheme=scheme)
    x_enc = alt.X(f"{x}:O", title=x_title, sort=x_sort, scale=band_scale(),
                  axis=alt.Axis(labelAngle=x_label_angle, labelOverlap=False))
    y_enc = alt.Y(f"{y}:O", title=y_title, sort=y_sort, scale=band_scale())
    rect = alt.Chart(data).encode(x=x_enc, y=y_enc).mark_rect().encode(
        color=alt.Color(f"{value}:Q", title=value_title, scale=scale),
        tooltip=[alt.Tooltip(f"{y}:O", title=y_title), alt.Tooltip(f"{x}:O", title=x_title),
                 alt.Tooltip(f"{value}:Q", title=value_title, format=fmt)],
    )
    chart = rect
    if text:
        vmax = float(data[value].max()) if len(data) else 1.0
        shown = data if text_min is None else data[data[value] >= text_min]
        chart = rect + alt.Chart(shown).mark_text(fontSize=TEXT_SIZE).encode(
            x=x_enc, y=y_enc,
            text=alt.Text(f"{value}:Q", format=text_fmt or fmt),
            color=alt.condition(f"datum['{value}'] > {vmax * 0.6}", alt.value("white"), alt.value("#222")))
    props = {"width": CHART_WIDTH}
    if height:
        props["height"] = height
    return chart.properties(**props)


def confusion_chart(labels, confusion) -> alt.LayerChart:
    """Confusion matrix (rows: true label, columns: recognised), coloured by share of the row."""
    cm = pd.DataFrame(confusion, index=labels, columns=labels)
    long = cm.reset_index(names="true").melt(id_vars="true", var_name="predicted", value_name="files")
    row_sums = cm.sum(axis=1).replace(0, 1)
    long["share"] = [cm.loc[t, p] / row_sums[t] for t, p in zip(long["true"], long["predicted"])]
    chart = heatmap(long, "predicted", "true", "share", x_title="recognised as", y_title="true label",
                    value_title="share", fmt=".0%", x_sort=labels, y_sort=labels, text=False,
                    height=32 * len(labels), domain=[0, 1], scheme=HEAT_RANGE, x_label_angle=-40)
    counts = alt.Chart(long[long["files"] > 0]).mark_text(fontSize=TEXT_SIZE).encode(
        x=alt.X("predicted:O", sort=labels), y=alt.Y("true:O", sort=labels), text="files:Q",
        color=alt.condition("datum.share > 0.6", alt.value("white"), alt.value("#222")))
    return chart + counts


def show_chart(chart, key: str | None = None) -> None:
    """Draw an Altair chart across the page; heights given are those of the plots."""
    if chart.autosize is alt.Undefined:
        chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    if chart.config is alt.Undefined:
        chart = legible(chart)
    st.altair_chart(chart, width="stretch", key=key)


# -- streaming -----------------------------------------------------------------------------
def score_curves(history, scorer) -> pd.DataFrame:
    """Per-keyword margin over the best non-keyword hypothesis (nats per frame), per window.

    Silent windows (not scored by the recognizer) have no points.
    """
    if not history:
        return pd.DataFrame({"t": [], "label": [], "score": []})
    labels = [str(c) for c in scorer.classes]
    keyword = np.array([is_keyword(c) for c in labels])
    margin = np.array([ws.margins for ws in history])[:, keyword]
    t = np.array([(ws.start + ws.end) / 2 for ws in history])
    kw = [c for c, k in zip(labels, keyword) if k]
    df = pd.DataFrame({"t": np.repeat(t, len(kw)), "label": np.tile(kw, len(t)), "score": np.round(margin.ravel(), 3)})
    return df[np.isfinite(df["score"])].reset_index(drop=True)


def events_frame(events) -> pd.DataFrame:
    rows = [{"label": e.label, "start": round(float(e.start), 3), "end": round(float(e.end), 3),
             "score": round(float(e.score), 3), "margin": round(float(e.margin), 3), "time": round(float(e.time), 3),
             "latency": round(float(e.time - e.end), 3)} for e in events]
    return pd.DataFrame(rows, columns=["label", "start", "end", "score", "margin", "time", "latency"])


def label_scale(labels) -> alt.Scale:
    kws = [str(c) for c in labels if is_keyword(str(c))]
    return alt.Scale(domain=kws, scheme="tableau10")


def timeline_chart(y: np.ndarray, sr: int, events, history, scorer, threshold: float, sensitivity: float,
                   truth: pd.DataFrame | None = None, t0: float = 0.0, domain=None,
                   name: str = "tl") -> alt.VConcatChart:
    """Waveform with detected words as labelled spans, the truth (if any), and score curves."""
    duration = len(y) / sr
    domain = domain or [t0, t0 + max(duration, 1e-3)]
    scale = label_scale(scorer.classes)
    ev = events_frame(events)
    ev = ev[(ev["end"] >= domain[0]) & (ev["start"] <= domain[1])]
    wave = waveform_chart(y, sr, domain, height=150, t0=t0, title="waveform and detected keywords")
    spans = alt.Chart(ev).mark_rect(clip=True, opacity=0.3).encode(
        x="start:Q", x2="end:Q", color=alt.Color("label:N", scale=scale, legend=None),
        tooltip=["label:N", alt.Tooltip("start:Q", format=".2f"), alt.Tooltip("end:Q", format=".2f"),
                 alt.Tooltip("score:Q", format=".2f", title="score"),
                 alt.Tooltip("margin:Q", format=".2f", title="margin (nats/frame)"),
                 alt.Tooltip("latency:Q", format=".2f", title="latency (s)")])
    tags = alt.Chart(ev).transform_calculate(mid="(datum.start + datum.end) / 2").mark_text(
        clip=True, baseline="top", dy=3, fontSize=12, fontWeight="bold").encode(
        x="mid:Q", y=alt.value(0), text="label:N", color=alt.Color("label:N", scale=scale, legend=None))
    panels = [wave + spans + tags]
    if truth is not None and len(truth):
        tr = truth.assign(row="truth", label=truth["label"].astype(str))
        tr = tr[(tr["end"] >= domain[0]) & (tr["start"] <= domain[1])]
        cols = ["row", "label", "start", "end"]
        lanes = pd.concat([tr[cols], ev.assign(row="detected")[cols]], ignore_index=True)
        lane_chart = alt.Chart(lanes).encode(
            y=alt.Y("row:N", title=None, sort=["truth", "detected"]))
        boxes = lane_chart.mark_bar(clip=True, height=14, cornerRadius=3).encode(
            x=time_x("start", domain=domain, title=None), x2="end:Q",
            color=alt.condition(f"indexof({list(scale.domain)!r}, datum.label) >= 0",
                                alt.Color("label:N", scale=scale, legend=None), alt.value("#bbbbbb")),
            tooltip=["row:N", "label:N", alt.Tooltip("start:Q", format=".2f"), alt.Tooltip("end:Q", format=".2f")])
        names = lane_chart.mark_text(clip=True, align="left", dx=3, fontSize=TEXT_SIZE, color="#333").encode(
            x="end:Q", text="label:N")
        panels.append((boxes + names).properties(height=60, width=CHART_WIDTH, title="truth and detections"))
    curves = score_curves(history, scorer)
    curves = curves[(curves["t"] >= domain[0] - 1) & (curves["t"] <= domain[1] + 1)]
    curves = curves.assign(shown=np.maximum(curves["score"], SCORE_FLOOR))
    hover = alt.selection_point(fields=["label"], bind="legend", name=f"{name}_legend")
    title = "keyword margins per window (over the best non-keyword hypothesis, nats per frame)"
    lines = alt.Chart(curves, title=title).mark_line(clip=True, strokeWidth=1.6, interpolate="monotone").encode(
        x=time_x(domain=domain, title="time (s) — window centre"),
        y=alt.Y("shown:Q", title="margin (nats/frame)", scale=alt.Scale(domainMin=SCORE_FLOOR)),
        color=alt.Color("label:N", scale=scale,
                        legend=alt.Legend(title="keyword", orient="top", direction="horizontal")),
        opacity=alt.condition(hover, alt.value(1.0), alt.value(0.15)),
        tooltip=["label:N", alt.Tooltip("t:Q", format=".2f", title="time (s)"),
                 alt.Tooltip("score:Q", format=".2f", title="margin")],
    ).add_params(hover)
    level = alt.Chart(pd.DataFrame({"y": [threshold]}))
    rule = level.mark_rule(clip=True, strokeDash=[6, 4], color="#333").encode(y="y:Q")
    rule_text = level.mark_text(clip=True, align="left", baseline="bottom", dx=4, dy=-2, fontSize=11,
                                color="#333").encode(
        x=alt.value(0), y="y:Q", text=alt.value(f"threshold at sensitivity {sensitivity:.2f}"))
    panels.append((lines + rule + rule_text).properties(height=220, width=CHART_WIDTH))
    return zoomable(panels, name)

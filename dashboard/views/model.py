"""Model: what each word model learned (transitions, state means, training curve)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import charts
import modelstore
from hmmrec.labels import is_keyword

SHOWN_TRANSITION = 0.05  # transition probabilities written on the matrix (the colour shows all)
MAX_STATES_WITH_NUMBERS = 20

st.title("Model")
st.caption("Each word is a left-to-right HMM: states follow one another through the word, each with a "
           "mixture of Gaussians over the MFCC features.")

info = modelstore.require_model()
rec = info.rec
if rec.frame_net_ is not None:
    nets = "; ".join(n.describe() for n in (rec.frame_net_, rec.filterbank_net_) if n is not None)
    st.caption(f"Beside the Gaussians ({rec.frame_net_.weight:.0%} of each file's scores): {nets}. "
               "They tell every word's states apart.")
cfg = rec.feature_config_
labels = [str(c) for c in rec.classes_]
summary = rec.training_summary_
durations = summary.get("duration_s", {})

overview = pd.DataFrame([{
    "label": lab,
    "states": m.n_states,
    "Gaussians": m.n_mix,
    "training files": rec.n_examples_.get(lab, None),
    "median length (s)": durations.get(lab, {}).get("p50"),
    "EM iterations": len(m.log_likelihood_history),
    "final log-lik/frame": m.log_likelihood_history[-1] if m.log_likelihood_history else None,
} for lab, m in zip(labels, rec.models_)])
st.dataframe(overview, hide_index=True, width="stretch", column_config={
    "final log-lik/frame": st.column_config.NumberColumn(format="%.2f"),
    "median length (s)": st.column_config.NumberColumn(format="%.2f"),
})

first_keyword = next((i for i, lab in enumerate(labels) if is_keyword(lab)), 0)
word = st.selectbox("Word", labels, index=first_keyword, key="model_word")
k = labels.index(word)
m = rec.models_[k]
c1, c2, c3, c4 = st.columns(4)
c1.metric("States", m.n_states)
c2.metric("Gaussians per state", m.n_mix)
c3.metric("Training examples", rec.n_examples_.get(word, "?"))
c4.metric("Median length", f"{durations.get(word, {}).get('p50', float('nan')):.2f} s")

left, right = st.columns(2, gap="large")
with left:
    st.markdown("**Transition matrix** · probability of moving from a state (row) to a state (column) each frame "
                f"(numbers from {SHOWN_TRANSITION:g} up; hover any cell for its value)")
    s = m.n_states
    tm = pd.DataFrame({"from": np.repeat(np.arange(s), s), "to": np.tile(np.arange(s), s),
                       "p": np.round(m.transmat.ravel(), 3)})
    chart = charts.heatmap(tm, "to", "from", "p", x_title="to state", y_title="from state",
                           value_title="probability", fmt=".3f", text=s <= MAX_STATES_WITH_NUMBERS,
                           text_min=SHOWN_TRANSITION, text_fmt=".2~f", height=max(160, 26 * s),
                           domain=[0, 1], scheme=charts.HEAT_RANGE)
    charts.show_chart(chart, key="model_transmat")
    stay = np.diag(m.transmat)
    expected = [f"{i}: {cfg.hop_s / (1 - p) * 1000:.0f} ms" if p < 1 else f"{i}: to the end"
                for i, p in enumerate(stay)]
    st.caption("Expected stay in each state (from the self-loop probability): " + " · ".join(expected))
with right:
    st.markdown("**Training log-likelihood** · mean per frame after each Baum-Welch iteration "
                "(jumps: a mixture split)")
    hist = m.log_likelihood_history
    if hist:
        curve = pd.DataFrame({"iteration": np.arange(1, len(hist) + 1), "loglik": hist})
        chart = alt.Chart(curve).mark_line(point=True, color=charts.WINNER_COLOR).encode(
            x=alt.X("iteration:Q", title="EM iteration", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("loglik:Q", title="log-likelihood per frame (nats)", scale=alt.Scale(zero=False)),
            tooltip=["iteration:Q", alt.Tooltip("loglik:Q", format=".3f")],
        ).properties(height=max(160, 26 * m.n_states), width=charts.CHART_WIDTH).interactive()
        charts.show_chart(chart, key="model_history")
    else:
        st.info("This model file has no training history.")

st.markdown("**State means** · the mixture-weighted mean of each state's Gaussians, per feature "
            "(features are normalised per utterance: 0 is the utterance average, units are standard deviations)")
names = charts.feature_names(cfg)
means = np.einsum("sm,smd->sd", m.weights, m.means)
mm = pd.DataFrame({"state": np.repeat(np.arange(m.n_states), len(names)), "feature": np.tile(names, m.n_states),
                   "mean": np.round(means.ravel(), 3)})
lim = float(np.percentile(np.abs(means), 98)) or 1.0
chart = alt.Chart(mm).mark_rect().encode(
    x=alt.X("feature:N", sort=names, title="feature", scale=charts.band_scale(),
            axis=alt.Axis(labelAngle=-60, labelFontSize=charts.AXIS_LABEL_SIZE)),
    y=alt.Y("state:O", title="state", scale=charts.band_scale()),
    color=alt.Color("mean:Q", title="mean (σ)",
                    scale=alt.Scale(scheme="redblue", domain=[-lim, lim], reverse=True, clamp=True)),
    tooltip=["state:O", "feature:N", alt.Tooltip("mean:Q", format=".2f")],
).properties(height=max(140, 22 * m.n_states), width=charts.CHART_WIDTH)
charts.show_chart(chart, key="model_means")

"""hmmrec dashboard: watch the recognizer think.

Start with ``hmmrec dashboard [--port N] [--model PATH]`` or
``streamlit run dashboard/app.py [-- --model PATH]``. Without a model it shows one
trained on the built-in ``sounds/`` corpus (trained once, then cached).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # the views import the shared helpers (modelstore, inputs, ...) by name
    sys.path.insert(0, str(_HERE))

import modelstore  # noqa: E402

st.set_page_config(page_title="hmmrec dashboard", page_icon=":material/graphic_eq:", layout="wide")

# The page scripts live in views/, not pages/: a pages/ folder next to the entry point
# switches Streamlit to its older file-based navigation for the first session after a
# restart (a bookmarked /stream would then run without this file and its sidebar).
pages = [
    st.Page(str(_HERE / "views" / "recognize.py"), title="Recognize", icon=":material/graphic_eq:", default=True),
    st.Page(str(_HERE / "views" / "stream.py"), title="Stream", icon=":material/timeline:", url_path="stream"),
    st.Page(str(_HERE / "views" / "teach.py"), title="Teach words", icon=":material/school:", url_path="teach"),
    st.Page(str(_HERE / "views" / "train.py"), title="Train & evaluate", icon=":material/model_training:",
            url_path="train"),
    st.Page(str(_HERE / "views" / "model.py"), title="Model", icon=":material/account_tree:", url_path="model"),
]
page = st.navigation(pages)
with st.sidebar:
    st.markdown("### :material/graphic_eq: hmmrec")
modelstore.model_sidebar()
page.run()

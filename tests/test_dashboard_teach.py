"""The Teach words page and the dashboard's store folder, with streamlit.testing.v1.AppTest.

Takes go in through the page's own recorder (``st.audio_input``, which AppTest can set)
and its upload fallback; the store folder ($HMMREC_DASHBOARD_STORE) is the test's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, no_trouble, quick_training, sound_files, wav_bytes

from hmmrec import HMMRecognizer, audio

st_testing = pytest.importorskip("streamlit.testing.v1",
                                 reason="the dashboard needs Streamlit (pip install 'hmmrec[dashboard]')")
AppTest = st_testing.AppTest

APP = REPO / "dashboard" / "app.py"
TIMEOUT = 180
SR = 16000
PAD_S = 0.6


def recording(path, pad_s: float = PAD_S) -> bytes:
    """A word file as the microphone would give it: quiet room noise before and after the word."""
    y, _ = audio.load(path, SR)
    noise = np.random.default_rng(0).normal(0, 1e-3, int(pad_s * SR)).astype(np.float32)
    return wav_bytes(np.concatenate([noise, y, noise]))


def widget(at, kind: str, prefix: str):
    """The widget of ``kind`` whose key begins with ``prefix`` (recorders' keys change as takes are kept)."""
    found = [w for w in getattr(at, kind) if (w.key or "").startswith(prefix)]
    assert len(found) == 1, (prefix, [w.key for w in getattr(at, kind)])
    return found[0]


def has_widget(at, kind: str, prefix: str) -> bool:
    return any((w.key or "").startswith(prefix) for w in getattr(at, kind))


def texts(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success])


def open_teach(model_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("HMMREC_DASHBOARD_MODEL", str(model_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/teach.py").run()
    no_trouble(at)
    return at


@pytest.fixture
def store(dashboard_store) -> Path:
    """The test's own store folder (conftest's ``dashboard_store``, set for every test)."""
    return dashboard_store


@pytest.fixture
def teach(fruit_model_path, monkeypatch, store) -> AppTest:
    """The app on the Teach words page (the small session model is the default one)."""
    return open_teach(fruit_model_path, monkeypatch)


def record(at, word: str, path) -> None:
    widget(at, "audio_input", f"teach_mic:{word}:").set_value(("recording.wav", recording(path), "audio/wav")).run()


def try_word(at, path) -> str:
    widget(at, "audio_input", "teach_try:").set_value(("try.wav", recording(path), "audio/wav")).run()
    no_trouble(at)
    return {m.label: m.value for m in at.metric}["Recognised"]


def test_the_page_is_listed_and_starts_empty(teach, store):
    assert teach.title[0].value == "Teach words"
    assert teach.text_input(key="teach_words").value == ""
    assert teach.number_input(key="teach_n_takes").value == 5
    assert teach.button(key="teach_train").disabled
    assert str(store) in texts(teach)


@pytest.mark.parametrize("typed, message", [
    ("kiwi, ki/wi", "'ki/wi' is not a word to teach"),
    ("_silence_", "'_silence_' is not a word to teach"),
    (", ".join(f"w{i}" for i in range(13)), "teach at most 12"),
])
def test_words_that_cannot_be_taught_are_a_message(teach, typed, message):
    teach.text_input(key="teach_words").set_value(typed).run()
    assert not teach.exception
    assert message in teach.error[0].value


def test_teach_two_words_redo_a_take_train_and_recognise(teach, store, fruit_model_path, monkeypatch):
    at = teach
    at.text_input(key="teach_words").set_value(" Kiwi,lime ,kiwi").run()
    no_trouble(at)
    assert "**kiwi** · 0 of 5 takes" in texts(at) and "**lime** · 0 of 5 takes" in texts(at)
    kiwi, lime = sound_files("train", "kiwi"), sound_files("train", "lime")

    # five takes of kiwi with the recorder, each trimmed: the quiet padding is cut off
    for k, path in enumerate(kiwi[:5], start=1):
        assert widget(at, "audio_input", "teach_mic:kiwi:").label.startswith(f"Take {k} of 5")
        record(at, "kiwi", path)
        no_trouble(at)
    assert sorted(p.name for p in (store / "takes" / "kiwi").iterdir()) == [f"{k}.wav" for k in range(1, 6)]
    kept = audio.info(store / "takes" / "kiwi" / "5.wav").duration_s
    word = audio.info(kiwi[4]).duration_s
    assert kept < word + 2 * PAD_S - 0.6, (kept, word)  # the noise before and after, but a quarter second each side
    assert "Take 5 as recorded" in texts(at)
    start, end = at.session_state["teach_last"]["span"]
    assert PAD_S - 0.3 < start < PAD_S and word + PAD_S - 0.3 < end < word + 2 * PAD_S, (start, end)
    assert "**kiwi** · 5 of 5 takes" in texts(at) and not has_widget(at, "audio_input", "teach_mic:kiwi:")

    # a take without speech is refused with a message, nothing kept
    widget(at, "audio_input", "teach_mic:lime:").set_value(("quiet.wav", wav_bytes(np.zeros(SR)), "audio/wav")).run()
    assert not at.exception
    assert "Take 1 of 'lime' not kept: no speech heard" in at.error[0].value
    assert not (store / "takes" / "lime").exists() or not list((store / "takes" / "lime").iterdir())

    # redo take 2 of kiwi: the recorder asks for it again, and the new take replaces the old one
    before = (store / "takes" / "kiwi" / "2.wav").read_bytes()
    at.button(key="teach_redo:kiwi:2").click().run()
    assert widget(at, "audio_input", "teach_mic:kiwi:").label.startswith("Take 2 of 5 again")
    record(at, "kiwi", kiwi[5])
    no_trouble(at)
    assert (store / "takes" / "kiwi" / "2.wav").read_bytes() != before
    assert len(list((store / "takes" / "kiwi").iterdir())) == 5
    assert not has_widget(at, "audio_input", "teach_mic:kiwi:")

    # five takes of lime through the upload fallback, all at once
    widget(at, "file_uploader", "teach_upload:lime:").set_value(
        [(p.name, recording(p), "audio/wav") for p in lime[:5]]).run()
    no_trouble(at)
    assert len(list((store / "takes" / "lime").iterdir())) == 5
    assert not at.button(key="teach_train").disabled

    # train on the takes alone: the model is stored, becomes the current one, and knows held-out takes
    at.radio(key="teach_base").set_value("My takes alone")
    at.button(key="teach_train").click().run()
    no_trouble(at)
    models = list((store / "models").glob("*.model"))
    assert len(models) == 1 and models[0].stem.startswith("kiwi+lime ")
    assert at.sidebar.radio(key="model_choice").value == models[0].stem
    assert "2 labels: kiwi, lime" in " ".join(c.value for c in at.sidebar.caption)
    assert "Trained" in at.success[0].value
    # held out: the second takes of the voices of kiwi's first take and of lime's fifth
    assert try_word(at, kiwi[1]) == "kiwi"
    assert try_word(at, lime[5]) == "lime"
    # a word it was not taught, by a voice it has not heard: not one of its words
    assert try_word(at, sound_files("test", "orange")[0]) == "not one of my words"
    assert sorted(HMMRecognizer.load(models[0]).classes_) == ["kiwi", "lime"]

    # a new session (a reload): the words, their takes and the model are there
    fresh = open_teach(fruit_model_path, monkeypatch)
    assert fresh.text_input(key="teach_words").value == "kiwi, lime"
    assert "**kiwi** · 5 of 5 takes" in texts(fresh) and "**lime** · 5 of 5 takes" in texts(fresh)
    picker = fresh.sidebar.radio(key="model_choice")
    assert models[0].stem in picker.options and picker.value == "(default)"
    picker.set_value(models[0].stem).run()
    no_trouble(fresh)
    assert try_word(fresh, lime[5]) == "lime"
    assert fresh.get("download_button")  # the model and the takes can be downloaded


def test_train_on_top_of_a_shipped_model(teach, store):
    """kiwi and lime added to the shipped commands model: its twelve labels are kept."""
    at = teach
    at.text_input(key="teach_words").set_value("kiwi, lime").run()
    for word in ("kiwi", "lime"):
        widget(at, "file_uploader", f"teach_upload:{word}:").set_value(
            [(p.name, recording(p), "audio/wav") for p in sound_files("train", word)[:5]]).run()
    at.radio(key="teach_base").set_value("On top of commands (shipped)").run()
    at.number_input(key="teach_own_weight").set_value(3)
    at.button(key="teach_train").click().run()
    no_trouble(at)
    (path,) = (store / "models").glob("*.model")
    assert path.stem.startswith("kiwi+lime on commands ")
    rec = HMMRecognizer.load(path)
    commands = HMMRecognizer.load("commands")
    assert sorted(rec.classes_) == sorted([*commands.classes_, "kiwi", "lime"])
    assert rec.training_summary_["extended"]["own_weight"] == 3
    assert "14 labels" in " ".join(c.value for c in at.sidebar.caption)
    assert try_word(at, sound_files("train", "lime")[5]) == "lime"  # held out: the voice of the fifth take
    # another session sees how it was made
    fresh = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    fresh.sidebar.radio(key="model_choice").set_value(path.stem).run()
    no_trouble(fresh)
    assert "takes of kiwi, lime on top of a model of 12 labels" in " ".join(c.value for c in fresh.sidebar.caption)


def test_one_word_alone_cannot_be_trained(teach):
    at = teach
    at.number_input(key="teach_n_takes").set_value(2)
    at.text_input(key="teach_words").set_value("kiwi").run()
    widget(at, "file_uploader", "teach_upload:kiwi:").set_value(
        [(p.name, recording(p), "audio/wav") for p in sound_files("train", "kiwi")[:2]]).run()
    at.radio(key="teach_base").set_value("My takes alone")
    at.button(key="teach_train").click().run()
    assert not at.exception
    assert "Teach at least two words" in at.error[0].value


def test_try_it_live_opens_the_stream_page_in_live_mode(teach, monkeypatch):
    """The Stream page opens with its live source chosen (its WebRTC component, which needs a
    real server, stands in as idle: the browser test goes live for real)."""
    webrtc = pytest.importorskip("streamlit_webrtc")

    class Idle:
        state = type("State", (), {"playing": False})()

    monkeypatch.setattr(webrtc, "create_audio_sink_track", lambda *a, **k: None)
    monkeypatch.setattr(webrtc, "webrtc_streamer", lambda *a, **k: Idle())
    teach.button(key="teach_live").click().run()
    assert not teach.exception, [e.value for e in teach.exception]
    assert teach.title[0].value == "Stream"
    import streaming  # the dashboard's module, as the pages import it

    assert teach.session_state[streaming.SOURCE_KEY] == streaming.SOURCE_LIVE
    assert any("Start listening" in c.value for c in teach.caption)  # the live source's own view


# -- models: upload, the picker, the Train page ---------------------------------------------
def test_upload_of_a_bad_model_file_is_a_clear_message(teach, store):
    teach.file_uploader(key="teach_model_upload:0").set_value(("bad.model", b"hello, not a model", "")).run()
    assert not teach.exception
    assert len(teach.error) == 1
    assert teach.error[0].value == "Not kept: bad.model: not an hmmrec model file"
    assert not list(store.glob("models/*"))


def test_model_uploads_are_size_limited(teach, store):
    """The uploader refuses a file over the limit in the browser; the store refuses it too."""
    modelstore = sys.modules["modelstore"]
    assert teach.file_uploader(key="teach_model_upload:0").proto.max_upload_size_mb == modelstore.MAX_MODEL_UPLOAD_MB
    big = b"\0" * (modelstore.MAX_MODEL_UPLOAD_MB * 2**20 + 1)
    with pytest.raises(modelstore.HmmrecError, match="big.model: larger than 50 MB, the most"):
        modelstore.store_model_file(big, "big.model")
    assert not list(store.glob("models/*"))


def test_upload_of_a_good_model_appears_in_the_picker(teach, store, fruit_model_path):
    teach.file_uploader(key="teach_model_upload:0").set_value(
        ("my fruit.model", fruit_model_path.read_bytes(), "")).run()
    no_trouble(teach)
    assert (store / "models" / "my fruit.model").read_bytes() == fruit_model_path.read_bytes()
    assert "Kept my fruit.model as **my fruit**" in teach.success[0].value
    picker = teach.sidebar.radio(key="model_choice")
    assert picker.options == ["(default)", "commands (shipped)", "digits (shipped)", "my fruit"]
    picker.set_value("my fruit").run()
    no_trouble(teach)
    caption = " ".join(c.value for c in teach.sidebar.caption)
    assert "**my fruit**" in caption and "4 labels" in caption
    # the same name again: kept beside it, not over it
    teach.file_uploader(key="teach_model_upload:1").set_value(
        ("my fruit.model", fruit_model_path.read_bytes(), "")).run()
    no_trouble(teach)
    assert sorted(p.name for p in (store / "models").iterdir()) == ["my fruit-2.model", "my fruit.model"]


def test_an_uploaded_model_with_an_odd_training_summary_is_shown(teach, fruit_model, tmp_path):
    """A model file's training summary is any JSON: the picker's description reads only what it understands."""
    import copy

    odd = copy.copy(fruit_model)
    odd.training_summary_ = {**fruit_model.training_summary_, "extended": {"new_words": 5, "adapted_words": "kiwi"}}
    path = odd.save(tmp_path / "odd.model")
    teach.file_uploader(key="teach_model_upload:0").set_value(("odd.model", path.read_bytes(), "")).run()
    teach.sidebar.radio(key="model_choice").set_value("odd").run()
    no_trouble(teach)
    assert "**odd**" in " ".join(c.value for c in teach.sidebar.caption)


def test_a_model_trained_on_the_train_page_is_stored(teach, store, tmp_path, fruit_model_path, monkeypatch):
    """Trains its own: the Train & evaluate page's training is what stores the model."""
    manifest = tmp_path / "train.csv"
    rows = [(p, lab) for lab in ("kiwi", "orange") for p in sound_files("train", lab)[:3]]
    manifest.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    monkeypatch.setenv("HMMREC_DASHBOARD_DATA", str(tmp_path))
    at = teach
    at.switch_page("views/train.py").run()
    at.text_input(key="train_data").set_value(str(manifest))
    at.text_input(key="train_test").set_value("")
    quick_training(at)
    at.button(key="train_go").click().run()
    no_trouble(at)
    (path,) = (store / "models").glob("*.model")
    assert path.stem.startswith("train.csv ")
    assert at.session_state["train_result"].info.name == path.stem
    fresh = open_teach(fruit_model_path, monkeypatch)
    assert path.stem in fresh.sidebar.radio(key="model_choice").options

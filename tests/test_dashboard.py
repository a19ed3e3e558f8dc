"""The Streamlit dashboard, page by page, with streamlit.testing.v1.AppTest (no browser).

Every page runs against the small session model of conftest (``HMMREC_DASHBOARD_MODEL``),
so no test trains the built-in model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hmmrec import HMMRecognizer

from helpers import REPO, SOUNDS, no_trouble, quick_training, shared_dataset, small_train_set, wav_bytes

st_testing = pytest.importorskip("streamlit.testing.v1",
                                 reason="the dashboard needs Streamlit (pip install 'hmmrec[dashboard]')")
AppTest = st_testing.AppTest

APP = REPO / "dashboard" / "app.py"
KIWI = SOUNDS / "test" / "kiwi" / "kiwi_en-gb-scotland_f2_1.wav"
STREAM = SOUNDS / "streams" / "stream1.wav"
TIMEOUT = 120


@pytest.fixture
def app(fruit_model_path, monkeypatch, tmp_path):
    """The app on the Recognize page (default), showing the small session model; the
    test's tmp_path is one of its data folders (as with ``hmmrec dashboard --data``)."""
    monkeypatch.setenv("HMMREC_DASHBOARD_MODEL", str(fruit_model_path))
    monkeypatch.setenv("HMMREC_DASHBOARD_DATA", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def dashboard_module(name: str):
    """One of the dashboard's helper modules, as the running app imported it."""
    return sys.modules[name]


def charts(at):
    return at.get("vega_lite_chart")


# -- app and sidebar ------------------------------------------------------------------------
def test_app_shows_the_model_in_the_sidebar(app):
    no_trouble(app)
    text = " ".join(c.value for c in app.sidebar.caption)
    assert "kiwi" in text and "4 labels" in text


def test_the_picker_offers_the_shipped_models(app):
    picker = app.sidebar.radio(key="model_choice")
    assert picker.options == ["(default)", "commands (shipped)", "digits (shipped)"] and picker.value == "(default)"
    picker.set_value("digits (shipped)").run()
    no_trouble(app)
    text = " ".join(c.value for c in app.sidebar.caption)
    assert "shipped model digits" in text and "10 labels" in text and "8000 Hz" in text
    # the Recognize page answers for its default file (a fruit word) with the digits model what the
    # stream's rules say of it
    from hmmrec import HMMRecognizer
    from hmmrec.stream import judge_recording

    shown = app.session_state["rec_file:" + str((SOUNDS / "test").resolve())]
    v = judge_recording(HMMRecognizer.load("digits"), SOUNDS / "test" / shown)
    headings = [h.value for h in app.main.subheader]
    if v.accepted:
        assert [m.value for m in app.metric][:1] == [v.label]
    else:
        assert "not one of my words" in headings, headings
    app.sidebar.radio(key="model_choice").set_value("(default)").run()
    assert "4 labels" in " ".join(c.value for c in app.sidebar.caption)


def test_the_chosen_model_survives_the_picker_losing_its_state(app):
    """Streamlit can drop a sidebar widget's state when a page switches to another
    (st.switch_page, as Teach words' "Try it live" does): the session keeps its model."""
    app.sidebar.radio(key="model_choice").set_value("digits (shipped)").run()
    assert app.session_state["model_choice_kept"] == "digits (shipped)"
    # a session that has the copy but not the widget's state (what a dropped state leaves)
    fresh = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    fresh.session_state["model_choice_kept"] = "digits (shipped)"
    fresh.run()
    no_trouble(fresh)
    assert fresh.sidebar.radio(key="model_choice").value == "digits (shipped)"
    assert "shipped model digits" in " ".join(c.value for c in fresh.sidebar.caption)


def test_without_a_model_the_dashboard_shows_the_shipped_commands_model(monkeypatch):
    monkeypatch.delenv("HMMREC_DASHBOARD_MODEL", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    no_trouble(at)
    text = " ".join(c.value for c in at.sidebar.caption)
    assert "shipped model commands" in text and "12 labels" in text


def test_bad_model_file_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    bogus = tmp_path / "not-a.model"
    bogus.write_text("hello")
    monkeypatch.setenv("HMMREC_DASHBOARD_MODEL", str(bogus))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("not an hmmrec model file" in e.value for e in at.error)
    at.switch_page("views/train.py").run()  # training needs no model
    assert not at.exception
    assert at.button(key="train_go")


# -- Recognize ---------------------------------------------------------------------------------
def test_recognize_first_visit_shows_a_result(app):
    no_trouble(app)
    assert app.title[0].value == "Recognize a word"
    assert app.metric[0].value in ("kiwi", "orange", "pineapple", "_silence_")
    assert len(charts(app)) == 2  # scores; waveform + states + spectrogram + MFCC


def test_recognize_upload_of_a_kiwi(app):
    app.button_group(key="rec_source").set_value(":material/upload: Upload a WAV").run()
    app.file_uploader(key="rec_upload").set_value((KIWI.name, KIWI.read_bytes(), "audio/wav")).run()
    no_trouble(app)
    assert app.metric[0].value == "kiwi"
    assert "confidence" in app.get("progress")[0].proto.text


def test_recognize_compares_state_paths_of_other_models(app):
    app.button_group(key="rec_source").set_value(":material/upload: Upload a WAV").run()
    app.file_uploader(key="rec_upload").set_value((KIWI.name, KIWI.read_bytes(), "audio/wav")).run()
    app.multiselect(key="rec_compare").set_value(["orange", "pineapple"]).run()
    no_trouble(app)
    spec = charts(app)[-1].proto.spec
    assert "Viterbi states of the" in spec and "orange" in spec and "pineapple" in spec


def test_recognize_recording_from_the_browser(app):
    app.button_group(key="rec_source").set_value(":material/mic: Record").run()
    app.audio_input(key="rec_mic").set_value(("recording.wav", KIWI.read_bytes(), "audio/wav")).run()
    no_trouble(app)
    assert app.metric[0].value == "kiwi"


@pytest.mark.shared
def test_recognize_a_real_voice_with_a_model_of_synthetic_voices(app):
    """A real person's kiwi through the small model of espeak voices: not silence (the
    recording holds speech), not a confident word either, and the page says so."""
    real = sorted(shared_dataset("fruit").glob("kiwi/*.wav"))[0]
    app.button_group(key="rec_source").set_value(":material/upload: Upload a WAV").run()
    app.file_uploader(key="rec_upload").set_value((real.name, real.read_bytes(), "audio/wav")).run()
    no_trouble(app)
    captions = [c.value for c in app.main.caption]
    heard = [c for c in captions if c.startswith("Speech heard, so not")]
    assert len(heard) == 1 and "silence" in heard[0], captions
    assert "not one of my words" in [h.value for h in app.main.subheader]
    runner = next(c for c in captions if c.startswith("Runner-up"))
    assert "silence" not in runner and " behind" in runner and "-" not in runner.split("**")[2].split(" nats")[0]


@pytest.mark.parametrize("name, content, message", [
    ("notes.wav", b"this is not audio at all", "not a readable audio file"),
    ("empty.wav", b"", "empty"),
    ("long.wav", wav_bytes(np.zeros(31 * 16000)), "up to 30 s"),
    ("click.wav", wav_bytes(np.zeros(80)), "too short"),
])
def test_recognize_bad_uploads_give_a_friendly_message(app, name, content, message):
    app.button_group(key="rec_source").set_value(":material/upload: Upload a WAV").run()
    app.file_uploader(key="rec_upload").set_value((name, content, "audio/wav")).run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and message in errors[0] and name in errors[0], errors
    assert "/tmp" not in errors[0]  # the temporary file stays out of the message


def test_recognize_pick_a_file_from_a_data_folder(app, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "k.wav").write_bytes(KIWI.read_bytes())
    app.selectbox(key="rec_folder").set_value("Other folder…").run()
    app.text_input(key="rec_other_folder").set_value(str(tmp_path)).run()
    no_trouble(app)
    assert app.metric[0].value == "kiwi"
    app.text_input(key="rec_other_folder").set_value(str(tmp_path / "nope")).run()
    assert not app.exception and "no such folder" in app.error[0].value


def test_file_pickers_stay_inside_the_data_folders(app, tmp_path):
    """Typed paths outside the built-in corpus and the --data folders are refused, links and
    ../ included; so are manifests that list files outside them."""
    (tmp_path / "escape").symlink_to("/etc")
    app.selectbox(key="rec_folder").set_value("Other folder…").run()
    for typed in ("/", "/etc", str(tmp_path / "escape"), str(tmp_path / ".." / ".."), str(REPO)):
        app.text_input(key="rec_other_folder").set_value(typed).run()
        assert not app.exception
        assert len(app.error) == 1 and "outside the data folders" in app.error[0].value, (typed, app.error)
        assert "--data" in app.error[0].value
        assert not app.metric  # nothing listed, nothing recognised
    app.switch_page("views/stream.py").run()
    app.selectbox(key="stream_folder").set_value("Other folder…").run()
    app.text_input(key="stream_other_folder").set_value("/usr").run()
    assert not app.exception and "outside the data folders" in app.error[0].value
    outside = tmp_path / "outside.csv"
    outside.write_text(f"path,label\n{KIWI},kiwi\n/etc/hostname,evil\n")
    app.switch_page("views/train.py").run()
    for data, why in (("/etc", "outside the data folders"), (str(outside), "/etc/hostname: outside")):
        app.text_input(key="train_data").set_value(data)
        app.text_input(key="train_test").set_value("")
        app.button(key="train_go").click().run()
        assert not app.exception and why in app.error[0].value, app.error


def test_uploads_are_size_limited(app, monkeypatch):
    import inputs  # the dashboard's module, as the app imported it

    monkeypatch.setattr(inputs, "MAX_UPLOAD_MB", 0.01)  # 10 KiB
    app.button_group(key="rec_source").set_value(":material/upload: Upload a WAV").run()
    app.file_uploader(key="rec_upload").set_value(("big.wav", wav_bytes(np.zeros(16000)), "audio/wav")).run()
    assert not app.exception and "big.wav: larger than 0.01 MB" in app.error[0].value


def test_file_lists_are_bounded(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "dashboard"))
    import inputs  # the dashboard's module

    deep = tmp_path.joinpath(*[f"d{i}" for i in range(inputs.MAX_WALK_DEPTH + 2)])
    deep.mkdir(parents=True)
    for i in range(5):
        (tmp_path / f"a{i}.wav").write_bytes(b"x")
        (deep / f"b{i}.wav").write_bytes(b"x")
    (deep.parent / "c.wav").write_bytes(b"x")
    listed = inputs.list_wavs(tmp_path)
    assert listed[:5] == [f"a{i}.wav" for i in range(5)] and len(listed) == 5  # the too deep ones are not walked
    monkeypatch.setattr(inputs, "MAX_LISTED_FILES", 3)
    assert inputs.list_wavs(tmp_path) == ["a0.wav", "a1.wav", "a2.wav"]


# -- Recognize: answers you can trust, plots people read ------------------------------------------
APPLE = SOUNDS / "test" / "apple" / "apple_en-gb-x-rp_f4_1.wav"  # not a word of the small model
UPLOAD = ":material/upload: Upload a WAV"
MIN_FONT_PX = 11  # text written on a plot
MIN_AXIS_PX = 12  # axis labels and titles: Streamlit's own theme is no smaller


def upload(at, name: str, data: bytes):
    at.button_group(key="rec_source").set_value(UPLOAD).run()
    at.file_uploader(key="rec_upload").set_value((name, data, "audio/wav")).run()
    no_trouble(at)


def answer(at) -> str:
    """The page's answer: the recognised word, or the plain "not one of my words"."""
    if len(at.metric):
        return at.metric[0].value
    return at.main.subheader[0].value


def captions(at) -> str:
    return "\n".join(c.value for c in at.main.caption)


# reading the charts a page emits (Vega-Lite specs, datasets sent as Arrow)
def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def datasets(at, i: int) -> dict:
    """The named datasets of the ``i``-th chart of the page (Streamlit sends them as Arrow)."""
    import pyarrow as pa

    proto = at.get("vega_lite_chart")[i].proto
    return {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in proto.datasets}


def layers(spec: dict):
    """Every unit spec inside a (v/h)concat or layer spec."""
    for key in ("vconcat", "hconcat", "layer"):
        for sub in spec.get(key, []):
            yield from layers(sub)
    if "mark" in spec:
        yield spec


def mark_type(unit: dict) -> str:
    return unit["mark"] if isinstance(unit["mark"], str) else unit["mark"]["type"]


def assert_legible(spec: dict):
    """Axis labels and titles at least MIN_AXIS_PX wherever they are set (the spec's own
    config overrides Streamlit's theme), text on the plots at least MIN_FONT_PX."""
    config = spec.get("config", {}).get("axis", {})
    assert config.get("labelFontSize", 0) >= MIN_AXIS_PX and config.get("titleFontSize", 0) >= MIN_AXIS_PX, config
    for unit in layers(spec):
        for channel in unit.get("encoding", {}).values():
            axis = channel.get("axis") if isinstance(channel, dict) else None
            if isinstance(axis, dict) and "labelFontSize" in axis:
                assert axis["labelFontSize"] >= MIN_AXIS_PX, axis
        mark = unit["mark"]
        if isinstance(mark, dict) and mark.get("type") == "text":
            assert mark.get("fontSize", 0) >= MIN_FONT_PX, mark


def test_the_vocabulary_is_shown_beside_the_audio_sources(app):
    no_trouble(app)
    assert "Words it knows: **kiwi, orange, pineapple**" in captions(app)
    assert "silence" not in captions(app).split("Words it knows:")[1].split("\n")[0]
    app.button_group(key="rec_source").set_value(":material/mic: Record").run()
    no_trouble(app)
    assert app.get("audio_input")[0].proto.label == "Say one of: kiwi, orange, pineapple"


def test_a_known_word_is_still_the_answer(app, fruit_model):
    from hmmrec.stream import strictest_score

    upload(app, KIWI.name, KIWI.read_bytes())
    assert app.metric[0].value == "kiwi"
    assert "confidence" in app.get("progress")[0].proto.text
    assert "Taken by the stream's rules" in captions(app)
    assert "needs more than 0.75" in captions(app) and "(needs 1.75)" in captions(app)
    # the knob is the stream's: at sensitivity 0 the word must lead by more and score more
    app.slider(key="rec_sensitivity").set_value(0.0).run()
    assert app.metric[0].value == "kiwi" and "needs more than 1.00" in captions(app)
    assert f"(needs {strictest_score(fruit_model):.2f})" in captions(app)  # (the model's strict end)
    assert strictest_score(fruit_model) > 3.0


def test_another_word_is_not_one_of_my_words(app):
    """apple, which the small model was not taught, comes out as pineapple with 73% (and as
    "pineapple, confidence 73%" before): the stream's margin rule refuses it."""
    upload(app, APPLE.name, APPLE.read_bytes())
    assert answer(app) == "not one of my words" and not app.metric
    why = captions(app)
    assert "Why:" in why and "pineapple" in why and "fits the recording better" in why
    assert "higher sensitivity" in why
    assert not app.get("progress")  # no confidence bar for an answer that is not given
    # the plots still show what the models made of it, the best match named as such
    assert "(best match)" in json.dumps(specs(app)[-1])


def test_noise_and_silence_are_not_words(app):
    noise = np.random.default_rng(0).normal(0, 0.1, 16000)
    upload(app, "noise.wav", wav_bytes(noise))
    assert answer(app) == "not one of my words" and not app.metric
    assert "\\_silence\\_" in captions(app) and "not a word" in captions(app)
    upload(app, "quiet.wav", wav_bytes(np.zeros(16000)))
    assert answer(app) == "nothing heard" and "silent" in captions(app)


def test_the_player_plays_a_clip_at_its_own_level():
    """Streamlit scales a float array to full scale: a quiet take would play loud and a
    silent one (divided by its zero peak) as noise. The page hands it WAV bytes instead."""
    import io

    import inputs  # the dashboard's module
    import soundfile

    quiet = 0.01 * np.sin(np.arange(8000) / 5.0)
    for y in (quiet, np.zeros(8000)):
        back, sr = soundfile.read(io.BytesIO(inputs.Clip(y, 16000, "take").wav()), dtype="float64")
        assert sr == 16000 and len(back) == len(y) and np.abs(back - y).max() < 1e-4


# -- plots people read -----------------------------------------------------------------------------
def test_recognize_charts_are_legible_and_name_the_filler(app):
    upload(app, KIWI.name, KIWI.read_bytes())
    scores, alignment = specs(app)
    assert_legible(scores)
    assert_legible(alignment)
    # MFCC rows: a few labels, each block's first among them, two lines of text apart
    mfcc = next(u for u in layers(alignment) if "MFCC" in json.dumps(u.get("title", "")))
    axis = mfcc["encoding"]["y"]["axis"]
    assert axis["labelFontSize"] >= MIN_AXIS_PX and axis["labelOverlap"] is False and axis["labelFlush"] is False
    assert {"c0", "Δc0", "ΔΔc0"} <= set(axis["values"]) and len(axis["values"]) <= 9
    rows = [f"{d}c{i}" for d in ("", "Δ", "ΔΔ") for i in range(13)]
    at = sorted(rows.index(v) for v in axis["values"])
    assert min(np.diff(at)) * mfcc["height"] / len(rows) >= 2 * MIN_AXIS_PX  # two lines of text apart, at least
    # the Viterbi path: the stretch below state 0 is the filler, named on the axis and on the plot
    assert "'filler'" in json.dumps(alignment)
    names = set()
    for frame in datasets(app, 1).values():
        if "name" in frame:
            names |= set(frame["name"])
    assert "filler (before the word)" in names and "filler (after the word)" in names


# -- Stream --------------------------------------------------------------------------------------
def test_stream_page_runs_the_built_in_recording(app):
    app.switch_page("views/stream.py").run()
    no_trouble(app)
    assert app.title[0].value == "Stream"
    events = app.dataframe[0].value
    assert "kiwi" in set(events["label"])  # the small model knows kiwi, orange, pineapple
    # each event's score and margin, which the two levels of the page's sensitivity were put to
    from hmmrec.stream import sensitivity_to_min_score, sensitivity_to_threshold

    assert (events["score"] >= sensitivity_to_min_score(0.5) - 1e-3).all()
    assert (events["margin"] > sensitivity_to_threshold(0.5) - 1e-3).all()
    assert len(charts(app)) == 1
    assert any("Truth from stream1.csv" in c.value for c in app.caption)


@pytest.mark.parametrize("wav", sorted((SOUNDS / "streams").glob("*.wav")), ids=lambda p: p.name)
@pytest.mark.parametrize("sensitivity", [0.5, 0.8])
def test_the_stream_page_shows_the_command_lines_events(app, fruit_model_path, wav, sensitivity, capsys):
    """One timeline: the page's events for a file are those of 'hmmrec stream', decision times included."""
    from hmmrec.cli import main

    assert main(["stream", str(fruit_model_path), str(wav), "--jsonl", "--sensitivity", str(sensitivity)]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    app.switch_page("views/stream.py").run()
    app.slider(key="stream_sensitivity").set_value(sensitivity).run()
    app.selectbox(key=f"stream_file:{(SOUNDS / 'streams').resolve()}").set_value(wav.name).run()
    no_trouble(app)
    page = app.dataframe[0].value if len(app.dataframe) else None
    assert cli, "the test recording should hold keywords"
    assert page is not None and list(page["label"]) == [e["label"] for e in cli]
    for col in ("start", "end", "time"):
        assert list(page[col]) == pytest.approx([e[col] for e in cli], abs=1e-3), col


def test_the_stream_page_scores_a_recording_against_its_truth_list(app, fruit_model_path):
    """Keywords found and false alarms as `hmmrec kws` scores them (hmmrec.spotting.sweep, the
    page's model), and the curve over every sensitivity on request."""
    from hmmrec.spotting import read_truth, sweep

    wav = SOUNDS / "streams" / "stream2.wav"  # also holds words that are not keywords (_unknown_ rows)
    app.switch_page("views/stream.py").run()
    app.selectbox(key=f"stream_file:{(SOUNDS / 'streams').resolve()}").set_value(wav.name).run()
    no_trouble(app)
    rows = sweep(HMMRecognizer.load(fruit_model_path), wav, read_truth(wav.with_suffix(".csv")))["rows"]
    expected = next(r for r in rows if r["sensitivity"] == 0.5)  # the page's default sensitivity
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Keywords found"] == f"{expected['hits']} of {expected['keywords']}"
    assert metrics["False alarms"] == str(expected["false_alarms"])
    assert "stream_curves" not in app.session_state  # the curve only on request
    app.toggle(key="stream_curve").set_value(True).run()
    no_trouble(app)
    assert any("1 false alarm per hour" in c.value for c in app.caption)
    assert len(app.session_state["stream_curves"]) == 1
    assert len(charts(app)) == 2  # the timeline and the curve


def test_stream_sensitivity_changes_the_decisions(app):
    app.switch_page("views/stream.py").run()
    n_mid = len(app.dataframe[0].value)
    app.slider(key="stream_sensitivity").set_value(0.0).run()
    no_trouble(app)
    n_low = len(app.dataframe[0].value) if app.dataframe else 0
    app.slider(key="stream_sensitivity").set_value(1.0).run()
    no_trouble(app)
    n_high = len(app.dataframe[0].value)
    assert n_low <= n_mid <= n_high
    assert len(app.session_state["stream_results"]) == 3


def test_stream_upload_and_a_bad_upload(app):
    app.switch_page("views/stream.py").run()
    app.button_group(key="stream_source").set_value(":material/upload: Upload a WAV").run()
    app.file_uploader(key="stream_upload").set_value(("words.wav", STREAM.read_bytes(), "audio/wav")).run()
    no_trouble(app)
    assert "kiwi" in set(app.dataframe[0].value["label"])
    app.file_uploader(key="stream_upload").set_value(("words.wav", b"RIFF....WAVEjunk", "audio/wav")).run()
    assert not app.exception and "Cannot use this recording" in app.error[0].value


def test_stream_live_without_a_microphone_warns(app, monkeypatch):
    import hmmrec.live
    from hmmrec.errors import HmmrecError

    def no_device(spec):
        raise HmmrecError(hmmrec.live.NO_MICROPHONE)

    monkeypatch.setattr(hmmrec.live, "resolve_device", no_device)
    app.switch_page("views/stream.py").run()
    app.button_group(key="stream_source").set_value(":material/mic: Live").run()
    app.button_group(key="stream_live_where").set_value(":material/dns: This server's microphone").run()
    assert not app.exception
    assert "no microphone found" in app.warning[0].value and "browser's microphone" in app.warning[0].value


class FakeMicrophone:
    """Stands in for hmmrec.live.MicrophoneSource: plays a file in 0.5 s chunks, then nothing."""

    device_name = "fake microphone"
    overflows = 0

    def __init__(self, device=None, sr=16000, block_s=0.1):
        from hmmrec import audio

        y, _ = audio.load(STREAM, sr)
        self._chunks = [y[i:i + sr // 2] for i in range(0, len(y), sr // 2)]
        self.active = False
        self.sr = sr

    def start(self):
        self.active = True
        return self

    def stop(self):
        self.active = False

    def read(self, timeout=0.2):
        if self._chunks and self.active:
            return self._chunks.pop(0)
        if not self.active:
            raise StopIteration
        return None


def test_stream_live_mode_start_pump_stop(app, monkeypatch):
    import hmmrec.live

    monkeypatch.setattr(hmmrec.live, "resolve_device", lambda spec: 0)
    monkeypatch.setattr(hmmrec.live, "MicrophoneSource", FakeMicrophone)
    app.switch_page("views/stream.py").run()
    app.button_group(key="stream_source").set_value(":material/mic: Live").run()
    app.button_group(key="stream_live_where").set_value(":material/dns: This server's microphone").run()
    no_trouble(app)
    app.button(key="stream_live_start").click().run()
    no_trouble(app)
    live = app.session_state["stream_live"]
    assert not live.stopped
    deadline = time.monotonic() + 60
    while live.seconds < 20 and time.monotonic() < deadline:  # recognised in the background as it arrives
        time.sleep(0.2)
    app.run()
    no_trouble(app)
    assert live.seconds > 20 and any("listening" in m.value for m in app.markdown)
    app.button(key="stream_live_stop").click().run()
    no_trouble(app)
    assert live.stopped and any("stopped" in m.value and "25.0 s recorded" in m.value for m in app.markdown)
    assert "kiwi" in {e.label for e in live.events}
    # the words the model does not know (peach, lime, apple, banana) are said to be none of its words
    heard = next(m.value for m in app.markdown if m.value.startswith("Heard:"))
    assert "**kiwi**" in heard and heard.count("*not one of my words*") >= 4
    for start, end in (( 1.0, 1.49), (12.164, 12.584), (14.448, 14.838), (20.235, 20.945)):
        assert any(a < end and b > start for a, b in live.not_words), (start, live.not_words)
    assert not any(a < e.end and b > e.start for a, b in live.not_words for e in live.events)


# -- Train & evaluate -----------------------------------------------------------------------------
def _manifest(path: Path, split: str, n: int) -> Path:
    lines = ["path,label"]
    for label in ("kiwi", "orange"):
        for f in sorted((SOUNDS / split / label).glob("*.wav"))[:n]:
            lines.append(f"{f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_and_evaluate_a_tiny_model(app, tmp_path):
    # trains its own: the Train & evaluate page's training is what is tested
    app.switch_page("views/train.py").run()
    no_trouble(app)
    app.text_input(key="train_data").set_value(str(_manifest(tmp_path / "train.csv", "train", 3)))
    app.text_input(key="train_test").set_value(str(_manifest(tmp_path / "test.csv", "test", 2)))
    quick_training(app)
    app.number_input(key="train_unknown_models").set_value(3)
    app.button(key="train_go").click().run()
    no_trouble(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Labels"] == "2" and metrics["Training files"] == "6"
    trained = app.session_state["train_result"].info.rec
    assert trained.mmi_iter == 0 and trained.n_mix == 1 and trained.warps == () and trained.unknown_models == 3
    assert metrics["Test accuracy"].endswith("%")
    assert app.get("download_button")
    per_label = app.dataframe[0].value
    assert set(per_label["label"]) == {"kiwi", "orange"}
    assert charts(app)  # the confusion matrix
    # show it on every page: the Model page now describes the two-word model
    app.button(key="train_use").click().run()
    no_trouble(app)
    app.switch_page("views/model.py").run()
    no_trouble(app)
    assert set(app.dataframe[0].value["label"]) == {"kiwi", "orange"}


def test_train_with_own_recordings(app, tmp_path):
    """Own recordings (a new word too) are trained on beside the data, each counted as set."""
    # trains its own: the page's training with own recordings (and a direct fit to compare) is what is tested
    own = tmp_path / "own.csv"
    files = [(f, "lime") for f in sorted((SOUNDS / "train" / "lime").glob("*.wav"))[:2]]
    files += [(sorted((SOUNDS / "train" / "kiwi").glob("*.wav"))[5], "kiwi")]
    own.write_text("path,label\n" + "".join(f"{f},{lab}\n" for f, lab in files))
    app.switch_page("views/train.py").run()
    app.text_input(key="train_data").set_value(str(_manifest(tmp_path / "train.csv", "train", 3)))
    app.text_input(key="train_test").set_value("")
    app.text_input(key="train_own").set_value(str(own))
    app.number_input(key="train_own_weight").set_value(3)
    quick_training(app)
    app.button(key="train_go").click().run()
    no_trouble(app)
    trained = app.session_state["train_result"].info.rec
    assert list(trained.classes_) == ["kiwi", "lime", "orange"]
    assert trained.n_examples_ == {"kiwi": 4, "lime": 2, "orange": 3}
    assert trained.training_summary_["n_files"] == 9
    assert {m.label: m.value for m in app.metric}["Labels"] == "3"
    # exactly the models of fit with those weights (trains its own: bit-identity with the page's model)
    from hmmrec.corpus import load_corpus

    data, mine = load_corpus(tmp_path / "train.csv"), load_corpus(own)
    direct = HMMRecognizer(n_mix=1, speeds=(), warps=(), noise_snrs=(), mmi_iter=0, n_jobs=1).fit(
        data.paths + mine.paths, data.y + mine.y, sample_weight=[1] * len(data) + [3] * len(mine))
    for a, b in zip(trained.models_, direct.models_):
        np.testing.assert_array_equal(a.means, b.means)


def test_evaluate_the_current_model(app, tmp_path):
    app.switch_page("views/train.py").run()
    app.text_input(key="train_test").set_value(str(_manifest(tmp_path / "test.csv", "test", 2)))
    app.button(key="train_eval_current").click().run()
    no_trouble(app)
    assert {m.label for m in app.metric} >= {"Labels", "Test accuracy"}


def test_evaluate_adapted_to_each_test_speaker(app, tmp_path, fruit_model):
    from hmmrec.corpus import load_corpus
    from hmmrec.evaluate import evaluate_adapted, file_features

    test = tmp_path / "test.csv"
    files = [f for label in ("kiwi", "orange") for f in sorted((SOUNDS / "test" / label).glob("*.wav"))[:4]]
    test.write_text("path,label,speaker\n" + "".join(f"{f},{f.parent.name},{f.stem.split('_')[1]}\n" for f in files))
    corpus = load_corpus(test)
    app.switch_page("views/train.py").run()
    app.text_input(key="train_test").set_value(str(test))
    app.checkbox(key="train_adapt").check()
    app.button(key="train_eval_current").click().run()
    no_trouble(app)
    report = app.session_state["train_result"].report
    expected, hows = evaluate_adapted(fruit_model, corpus, *file_features(fruit_model, corpus.paths, speech=True))
    assert len(hows) == len(corpus.speakers) >= 2 and report["adapted_voices"] == len(hows)
    assert report == expected
    assert "Test accuracy (adapted)" in {m.label for m in app.metric}
    assert any(c.value.startswith(f"Adapted first to each of {len(hows)} speakers") for c in app.caption)


def test_evaluating_on_labels_the_model_lacks_says_so(app, tmp_path):
    test = tmp_path / "test.csv"
    files = sorted((SOUNDS / "test" / "kiwi").glob("*.wav"))[:2] + sorted((SOUNDS / "test" / "lime").glob("*.wav"))[:3]
    # speakers as the manifest's column (the voice's name in the middle of the file name)
    test.write_text("path,label,speaker\n" + "".join(f"{f},{f.parent.name},{f.stem.split('_')[1]}\n" for f in files))
    app.switch_page("views/train.py").run()
    app.text_input(key="train_test").set_value(str(test))
    app.button(key="train_eval_current").click().run()
    no_trouble(app)
    assert app.session_state["train_result"].report["never_right"] == {"lime": 3}  # the model has no _unknown_
    assert any("not trained on" in w.value and "lime" in w.value and "(3)" in w.value for w in app.warning)
    assert any(c.value.startswith("By speaker: ") and "hardest:" in c.value for c in app.caption)


def test_train_bad_data_is_a_message(app, tmp_path):
    app.switch_page("views/train.py").run()
    app.text_input(key="train_data").set_value(str(tmp_path / "missing")).run()
    app.button(key="train_go").click().run()
    assert not app.exception
    assert "no such file or folder" in app.error[0].value


# -- Model ---------------------------------------------------------------------------------------
def test_model_page_for_every_word(app):
    app.switch_page("views/model.py").run()
    no_trouble(app)
    words = app.selectbox(key="model_word").options
    assert set(words) == {"kiwi", "orange", "pineapple", "_silence_"}
    # the network beside the Gaussians is named, as `hmmrec info` names it
    assert any("frame classifier of the cepstra" in c.value and "frame classifier of a log mel filterbank" in c.value
               and "40% of each file's scores" in c.value for c in app.caption)
    for word in words:
        app.selectbox(key="model_word").set_value(word).run()
        no_trouble(app)
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["Training examples"] == "6"
        assert len(charts(app)) == 3  # transitions, log-likelihood curve, state means


def test_transition_matrix_prints_only_the_significant_numbers(app):
    app.switch_page("views/model.py").run()
    no_trouble(app)
    for word in ("kiwi", "orange"):
        app.selectbox(key="model_word").set_value(word).run()
        transitions = specs(app)[0]
        assert_legible(transitions)
        text = next(u for u in layers(transitions) if mark_type(u) == "text")
        assert text["encoding"]["text"]["format"] == ".2~f"  # 0.9, not 0.90; 1, not 1.00
        data = datasets(app, 0)
        written = data[text["data"]["name"]]
        everything = max(data.values(), key=len)
        n = app.metric[0].value  # states
        assert len(everything) == int(n) ** 2
        assert len(written) and (written["p"] >= 0.05).all()
        assert len(written) < len(everything) / 2  # no "0.00" in nearly every cell
        assert set(written["p"]) == set(everything["p"][everything["p"] >= 0.05])
    # the state means: one label per feature, readable
    means = specs(app)[2]
    assert_legible(means)
    assert means["encoding"]["x"]["axis"]["labelFontSize"] >= MIN_AXIS_PX


# -- helpers: the built-in model cache ---------------------------------------------------------
def test_builtin_model_is_cached_and_foreign_files_are_left_alone(app, tmp_path, monkeypatch):
    # trains its own: the built-in model's training and cache are what is tested
    modelstore, inputs = dashboard_module("modelstore"), dashboard_module("inputs")
    tree = tmp_path / "sounds" / "train"
    X, y = small_train_set()
    for path, label in list(zip(X, y))[::3]:
        (tree / label).mkdir(parents=True, exist_ok=True)
        (tree / label / Path(path).name).write_bytes(Path(path).read_bytes())
    monkeypatch.setattr(inputs, "SOUNDS", tmp_path / "sounds")
    monkeypatch.setattr(modelstore, "BUILTIN_MODEL_PARAMS", {"n_jobs": 1, "n_mix": 1, "n_states": 3, "speeds": ()})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "hmmrec" / "sounds.model"

    modelstore.builtin_model.clear()
    rec, how = modelstore.builtin_model()
    assert cache.is_file() and "cached in" in how
    modelstore.builtin_model.clear()
    again, how = modelstore.builtin_model()
    assert how.startswith("cached model") and list(again.classes_) == list(rec.classes_)

    # a model cached with other settings (an older hmmrec's defaults) is trained anew and replaced
    monkeypatch.setattr(modelstore, "BUILTIN_MODEL_PARAMS", {"n_jobs": 1, "n_mix": 1, "n_states": 4, "speeds": ()})
    modelstore.builtin_model.clear()
    newer, how = modelstore.builtin_model()
    assert rec.models_[0].n_states == 3 and "cached in" in how and newer.models_[0].n_states == 4
    assert HMMRecognizer.load(cache).training_summary_["dashboard"]["params"]["n_states"] == 4

    cache.write_bytes(b"a file of the user's, not a model of ours")
    modelstore.builtin_model.clear()
    _, how = modelstore.builtin_model()
    assert "not cached" in how and "remove it" in how and cache.read_bytes().startswith(b"a file of the user's")
    modelstore.builtin_model.clear()


def test_score_curves_agree_with_the_stream_recognizer(app, fruit_model):
    """The per-keyword curves show WindowScore.margins; they must match the margin of the best keyword."""
    from hmmrec import audio
    from hmmrec.stream import StreamRecognizer

    charts = sys.modules["charts"]
    y, sr = audio.load(STREAM, fruit_model.feature_config_.sr)
    stream = StreamRecognizer(fruit_model, keep_history=True)
    for i in range(0, len(y), sr // 2):
        stream.push(y[i:i + sr // 2])
    history = [ws for ws in stream.history if np.isfinite(ws.margin)]  # silent windows have no points
    assert len(history) > 10
    curves = charts.score_curves(history, stream.scorer)
    labels = list(curves["label"].unique())
    table = curves["score"].to_numpy().reshape(len(history), len(labels))
    for ws, row in zip(history, table):
        best = str(fruit_model.classes_[ws.best])
        assert row[labels.index(best)] == pytest.approx(ws.margin, abs=1e-3)


# -- the launcher --------------------------------------------------------------------------------
def test_launcher_command_and_subcommand(fruit_model_path, monkeypatch, capsys):
    import argparse

    from hmmrec.cli import dashboard
    from hmmrec.errors import HmmrecError

    argv = dashboard.command(8600, fruit_model_path)
    assert argv[1:4] == ["-m", "streamlit", "run"] and Path(argv[4]) == APP.resolve()
    assert argv[argv.index("--server.port") + 1] == "8600"
    assert argv[argv.index("--server.headless") + 1] == "true"
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"  # this machine only, unless --host
    assert argv[argv.index("--server.maxUploadSize") + 1] == str(dashboard.MAX_UPLOAD_MB)
    assert argv[-3:] == ["--", "--model", str(Path(fruit_model_path).resolve())]
    argv = dashboard.command(8600, None, host="0.0.0.0", data=[SOUNDS / "test"])
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"
    assert argv[-3:] == ["--", "--data", str((SOUNDS / "test").resolve())]
    with pytest.raises(HmmrecError, match="no such folder"):
        dashboard.command(8600, data=["/nonexistent"])
    argv = dashboard.command(8600, ice_servers=["stun:stun.example.org:3478"])
    assert argv[-3:] == ["--", "--ice-server", "stun:stun.example.org:3478"]
    with pytest.raises(HmmrecError, match="STUN or TURN URL"):
        dashboard.command(8600, ice_servers=["http://x"])
    with pytest.raises(HmmrecError, match="no such model file"):
        dashboard.command(8600, "/nonexistent.model")
    with pytest.raises(HmmrecError, match="port"):
        dashboard.command(0)

    parser = argparse.ArgumentParser()
    dashboard.add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dashboard"])
    assert args.port == 8501 and args.model is None and callable(args.func) and args.host == "127.0.0.1"
    args = parser.parse_args(["dashboard", "--port", "9000", "--model", "m.model"])
    assert args.port == 9000 and args.model == "m.model"

    started = []
    monkeypatch.setattr(dashboard.os, "execv", lambda path, argv: started.append(argv))
    dashboard.run(8600, host="0.0.0.0")
    assert len(started) == 1 and "reachable from other machines" in capsys.readouterr().err
    dashboard.run(8600)
    assert len(started) == 2 and "warning" not in capsys.readouterr().err

    monkeypatch.setattr(dashboard.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HmmrecError, match=r"pip install 'hmmrec\[dashboard\]'"):
        dashboard.run(8600)


def test_launch_options_after_the_double_dash(monkeypatch, tmp_path):
    """``hmmrec dashboard --data DIR --model M --ice-server URL`` reaches the pages as
    options after ``--`` on the ``streamlit run`` line (here: the app's argv)."""
    monkeypatch.syspath_prepend(str(REPO / "dashboard"))
    import inputs
    import modelstore
    import streaming

    for env in (inputs.DATA_ENV, modelstore.MODEL_ENV, streaming.ICE_ENV):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr("sys.argv", ["app.py", "--data", str(tmp_path), "--model", "a.model", "--data", "/nowhere",
                                     "--ice-server", "stun:stun.example.org:3478", "--model", "b.model"])
    assert inputs.launch_option("--data") == [str(tmp_path), "/nowhere"]
    assert tmp_path.resolve() in inputs.data_roots() and Path("/nowhere") not in inputs.data_roots()
    assert modelstore.model_path_argument() == "b.model"  # the last one given
    assert streaming.ice_servers() == [{"urls": ["stun:stun.example.org:3478"]}]
    monkeypatch.setattr("sys.argv", ["app.py", "--model"])  # no value: as if not given
    monkeypatch.setenv(modelstore.MODEL_ENV, "env.model")
    assert inputs.launch_option("--model") == [] and modelstore.model_path_argument() == "env.model"


@pytest.mark.parametrize("fmt, layout", [("s16", "stereo"), ("fltp", "mono"), ("s16", "mono")])
def test_browser_audio_mixes_down_and_resamples_webrtc_frames(monkeypatch, fmt, layout):
    """Frames as aiortc delivers them (48 kHz, 20 ms, packed or planar) become the model's rate."""
    av = pytest.importorskip("av", reason="the browser microphone needs streamlit-webrtc (pip install 'hmmrec[dashboard]')")
    monkeypatch.syspath_prepend(str(REPO / "dashboard"))
    import streaming
    from hmmrec.audio import resample

    sr_in, n = 48000, 960
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(sr_in) / sr_in)).astype(np.float32)
    ba = streaming.BrowserAudio(16000)
    channels = 2 if layout == "stereo" else 1
    for i in range(0, sr_in, n):
        block = np.repeat(x[i:i + n][:, None], channels, axis=1)  # (samples, channels)
        if fmt == "s16":
            data = (block * 32767).astype(np.int16).reshape(1, -1)  # packed: interleaved
        else:
            data = block.T.copy()  # planar: one row per channel
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate = sr_in
        ba.feed(frame)
    y = ba.read()
    want = resample(x, sr_in, 16000)
    assert ba.received == len(y) and abs(len(y) - len(want)) < 400
    m = min(len(y), len(want)) - 400
    assert np.max(np.abs(y[200:m] - want[200:m])) < 2e-3
    assert ba.read() is None and ba.arrival(0.5) is not None

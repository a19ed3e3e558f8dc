"""hmmrec.audio: every WAV variant, resampling, chunked reading and clear errors on bad files."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from hmmrec import audio
from hmmrec.errors import AudioError, HmmrecError, ParameterError

from helpers import sound_files

FMT_PCM, FMT_FLOAT, FMT_EXT = 0x0001, 0x0003, 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUID tail shared by PCM and IEEE float
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


# -- writers independent of hmmrec ------------------------------------------------------
def riff_bytes(data: bytes, sr: int, n_channels: int, bits: int, tag: int, extensible: bool = False,
               data_size: int | None = None, extra_chunks: bytes = b"") -> bytes:
    """A RIFF/WAVE file built by hand; ``data_size`` overrides the size in the data header."""
    block_align = n_channels * bits // 8
    if extensible:
        sub_tag = struct.pack("<H", tag) + _GUID_TAIL
        fmt_body = struct.pack("<HHIIHH", FMT_EXT, n_channels, sr, sr * block_align, block_align, bits)
        fmt_body += struct.pack("<HHI", 22, bits, 0) + sub_tag
    else:
        fmt_body = struct.pack("<HHIIHH", tag, n_channels, sr, sr * block_align, block_align, bits)
        if tag == FMT_FLOAT:
            fmt_body += struct.pack("<H", 0)  # cbSize, as most writers add for non-PCM
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra_chunks
    body += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    if len(data) % 2:
        body += b"\x00"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_riff(path: Path, *args, **kwargs) -> Path:
    path.write_bytes(riff_bytes(*args, **kwargs))
    return path


def write_std_wave(path: Path, frames: np.ndarray, sr: int, sampwidth: int) -> Path:
    """Integer PCM written with the standard library ``wave`` module; frames (n, channels) of raw ints."""
    frames = np.atleast_2d(frames.T).T
    n, ch = frames.shape
    if sampwidth == 1:
        raw = frames.astype(np.uint8).tobytes()
    elif sampwidth == 2:
        raw = frames.astype("<i2").tobytes()
    elif sampwidth == 3:
        ints = frames.astype("<i4").reshape(-1)
        raw = b"".join(struct.pack("<i", int(v))[:3] for v in ints)
    else:
        raw = frames.astype("<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ch)
        w.setsampwidth(sampwidth)
        w.setframerate(sr)
        w.writeframes(raw)
    return path


def sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def peak_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spec)])


RNG = np.random.default_rng(1234)


# -- every encoding decodes to the right values ---------------------------------------------
@pytest.mark.parametrize("sampwidth, scale, lo, hi", [
    (1, 128.0, 0, 256),            # 8-bit is unsigned, offset 128
    (2, 32768.0, -32768, 32768),
    (3, 8388608.0, -8388608, 8388608),
    (4, 2147483648.0, -2147483648, 2147483648),
])
def test_integer_pcm_values(tmp_path, sampwidth, scale, lo, hi):
    ints = RNG.integers(lo, hi, size=1000, dtype=np.int64)
    ints[:2] = [lo, hi - 1]  # the extremes
    f = write_std_wave(tmp_path / f"pcm{sampwidth}.wav", ints, 16000, sampwidth)
    y, sr = audio.load(f)
    expected = ((ints - 128) if sampwidth == 1 else ints) / scale
    assert sr == 16000
    assert y.dtype == np.float32 and y.shape == (1000,)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-7)
    assert y.min() == -1.0 and y.max() <= 1.0  # (2**31 - 1) / 2**31 rounds to 1.0 in float32
    wi = audio.info(f)
    assert (wi.sr, wi.n_channels, wi.sample_width, wi.is_float, wi.n_samples) == (16000, 1, sampwidth, False, 1000)


@pytest.mark.parametrize("sampwidth", [1, 2, 3, 4])
def test_hand_built_pcm_matches_wave_module(tmp_path, sampwidth):
    """The same samples in a hand-built RIFF (with an extra LIST chunk before data) decode the same."""
    lo, hi = {1: (0, 256), 2: (-32768, 32768), 3: (-8388608, 8388608), 4: (-2**31, 2**31)}[sampwidth]
    ints = RNG.integers(lo, hi, size=333, dtype=np.int64)
    ref = write_std_wave(tmp_path / "ref.wav", ints, 16000, sampwidth)
    with wave.open(str(ref)) as w:
        raw = w.readframes(w.getnframes())
    odd_list = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"  # odd-sized chunk + pad byte
    f = write_riff(tmp_path / "hand.wav", raw, 16000, 1, 8 * sampwidth, FMT_PCM, extra_chunks=odd_list)
    np.testing.assert_array_equal(audio.load(f)[0], audio.load(ref)[0])


@pytest.mark.parametrize("dtype, bits", [("<f4", 32), ("<f8", 64)])
def test_float_values(tmp_path, dtype, bits):
    x = RNG.uniform(-1, 1, size=777).astype(dtype)
    f = write_riff(tmp_path / f"f{bits}.wav", x.tobytes(), 16000, 1, bits, FMT_FLOAT)
    y, sr = audio.load(f)
    assert y.dtype == np.float32 and sr == 16000
    np.testing.assert_allclose(y, x.astype(np.float32), rtol=0, atol=1e-7)
    assert audio.info(f).is_float


@pytest.mark.parametrize("tag, bits, dtype", [(FMT_PCM, 16, "<i2"), (FMT_PCM, 32, "<i4"), (FMT_FLOAT, 32, "<f4"),
                                              (FMT_FLOAT, 64, "<f8")])
def test_wave_format_extensible(tmp_path, tag, bits, dtype):
    if tag == FMT_FLOAT:
        x = RNG.uniform(-1, 1, size=500).astype(dtype)
        expected = x.astype(np.float32)
    else:
        info = np.iinfo(dtype)
        x = RNG.integers(info.min, info.max, size=500).astype(dtype)
        expected = x / (info.max + 1.0)
    f = write_riff(tmp_path / "ext.wav", x.tobytes(), 22050, 1, bits, tag, extensible=True)
    y, sr = audio.load(f)
    assert sr == 22050
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("n_channels", [2, 3, 6])
def test_multichannel_mixdown_is_mean(tmp_path, n_channels):
    ints = RNG.integers(-20000, 20000, size=(400, n_channels))
    f = write_std_wave(tmp_path / "multi.wav", ints, 16000, 2)
    y, _ = audio.load(f)
    assert y.shape == (400,)
    np.testing.assert_allclose(y, (ints / 32768.0).mean(axis=1), rtol=0, atol=1e-6)
    # and in a float, extensible stereo file
    x = RNG.uniform(-1, 1, size=(300, n_channels)).astype("<f4")
    f2 = write_riff(tmp_path / "multi_f.wav", x.tobytes(), 16000, n_channels, 32, FMT_FLOAT, extensible=True)
    np.testing.assert_allclose(audio.load(f2)[0], x.mean(axis=1), rtol=0, atol=1e-6)
    assert audio.info(f2).n_channels == n_channels


def test_stereo_opposite_channels_cancel(tmp_path):
    left = (sine(300, 16000, 0.2) * 32767).astype(np.int64)
    f = write_std_wave(tmp_path / "cancel.wav", np.stack([left, -left], axis=1), 16000, 2)
    np.testing.assert_allclose(audio.load(f)[0], 0.0, atol=1e-6)


# -- resampling ---------------------------------------------------------------------------
@pytest.mark.parametrize("orig_sr", [8000, 22050, 44100, 16000])
def test_resampled_to_16k_keeps_duration_and_frequency(tmp_path, orig_sr):
    seconds = 1.0
    x = sine(440, orig_sr, seconds)
    f = write_std_wave(tmp_path / f"{orig_sr}.wav", np.round(x * 32767), orig_sr, 2)
    assert audio.info(f).duration_s == pytest.approx(seconds)
    y, sr = audio.load(f, sr=16000)
    assert sr == 16000
    assert abs(len(y) - 16000 * seconds) <= 1
    assert peak_hz(y, 16000) == pytest.approx(440, abs=2)
    # amplitude survives, away from the filter's edges
    mid = y[2000:-2000]
    assert np.max(np.abs(mid)) == pytest.approx(0.5, abs=0.02)
    np.testing.assert_allclose(mid, sine(440, 16000, seconds)[2000:-2000], atol=0.02)


def test_resample_down_to_8k_removes_content_above_nyquist(tmp_path):
    x = sine(440, 16000, 1.0, 0.4) + sine(6000, 16000, 1.0, 0.4)
    f = write_std_wave(tmp_path / "two_tones.wav", np.round(x * 32767), 16000, 2)
    y, sr = audio.load(f, sr=8000)
    assert sr == 8000 and abs(len(y) - 8000) <= 1
    spec = np.abs(np.fft.rfft(y[500:-500]))
    freqs = np.fft.rfftfreq(len(y) - 1000, 1 / 8000)
    assert freqs[np.argmax(spec)] == pytest.approx(440, abs=3)
    # 6000 Hz cannot exist at 8 kHz and must not alias to 2000 Hz
    alias = spec[np.abs(freqs - 2000) < 20].max()
    assert alias < 0.01 * spec.max()


def test_load_keeps_rate_when_sr_is_none(tmp_path):
    f = write_std_wave(tmp_path / "a.wav", np.round(sine(440, 22050, 0.1) * 32767), 22050, 2)
    y, sr = audio.load(f)
    assert sr == 22050 and len(y) == 2205


def test_real_corpus_file_is_16k_mono():
    f = sound_files("train", "apple", 1)[0]
    y, sr = audio.load(f)
    wi = audio.info(f)
    assert sr == 16000 and wi.n_channels == 1 and len(y) == wi.n_samples
    assert 0.01 < np.abs(y).max() <= 1.0


# -- bad input ----------------------------------------------------------------------------------
def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = riff_bytes((np.arange(1000, dtype="<i2") * 10).tobytes(), 16000, 1, 16, FMT_PCM)
    nan = np.array([0.1, np.nan, 0.2] * 100, dtype="<f4")
    inf = np.array([0.1, np.inf, 0.2] * 100, dtype="<f4")
    files = {
        "missing": tmp_path / "missing_file.wav",
        "directory": tmp_path / "a_directory.wav",
        "empty": tmp_path / "empty_file.wav",
        "text": tmp_path / "text_file.wav",
        "header_only": tmp_path / "header_only_file.wav",
        "nan": tmp_path / "nan_file.wav",
        "inf": tmp_path / "inf_file.wav",
        "zero_samples": tmp_path / "zero_samples_file.wav",
        "unsupported": tmp_path / "unknown_codec_file.wav",
        "big_endian": tmp_path / "rifx_file.wav",
    }
    files["directory"].mkdir()
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not audio, just some text\n" * 10)
    files["header_only"].write_bytes(good[:30])
    write_riff(files["nan"], nan.tobytes(), 16000, 1, 32, FMT_FLOAT)
    write_riff(files["inf"], inf.tobytes(), 16000, 1, 32, FMT_FLOAT)
    write_riff(files["zero_samples"], b"", 16000, 1, 16, FMT_PCM)
    write_riff(files["unsupported"], b"\x01\x02" * 100, 8000, 1, 16, 0x1234)  # no such codec
    files["big_endian"].write_bytes(b"RIFX" + good[4:])
    return files


BAD_KINDS = ["missing", "directory", "empty", "text", "header_only", "nan", "inf", "zero_samples", "unsupported",
             "big_endian"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_load_raises_audio_error_naming_file(tmp_path, kind):
    f = _bad_files(tmp_path)[kind]
    with pytest.raises(AudioError) as exc:
        audio.load(f)
    assert f.name in str(exc.value)
    assert isinstance(exc.value, HmmrecError)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_iter_chunks_raises_audio_error_naming_file(tmp_path, kind):
    f = _bad_files(tmp_path)[kind]
    with pytest.raises(AudioError) as exc:
        list(audio.iter_chunks(f, sr=16000, chunk_size=100))
    assert f.name in str(exc.value)


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "text", "unsupported"])
def test_bad_file_info_raises_audio_error(tmp_path, kind):
    f = _bad_files(tmp_path)[kind]
    with pytest.raises(AudioError, match=f.name):
        audio.info(f)


def test_truncated_file_gives_the_samples_present(tmp_path):
    """A recording cut short (the header promises more data than the file holds) reads as far as it goes."""
    x = np.arange(1000, dtype="<i2") * 10
    f = tmp_path / "truncated.wav"
    f.write_bytes(riff_bytes(x.tobytes(), 16000, 1, 16, FMT_PCM)[:-700])  # 650 of the 1000 samples
    y, _ = audio.load(f)
    np.testing.assert_array_equal(y, (x[:650] / 32768.0).astype(np.float32))
    assert audio.info(f).n_samples == 650 and np.concatenate(list(audio.iter_chunks(f, chunk_size=64))).size == 650


def test_alaw_and_mulaw_wav_decode(tmp_path):
    """G.711 WAV files (telephone recordings) decode: A-law 0xd5 and mu-law 0xff are (near) silence,
    A-law 0xaa and mu-law 0x80 the loudest positive codes (32256 and 32124 of 32768)."""
    for tag, quiet, loud in ((0x0006, 0xD5, 0xAA), (0x0007, 0xFF, 0x80)):
        f = write_riff(tmp_path / f"g711_{tag}.wav", bytes([quiet]) * 400 + bytes([loud]) * 400, 8000, 1, 8, tag)
        y, sr = audio.load(f)
        assert sr == 8000 and len(y) == 800 and audio.info(f).subtype in ("ALAW", "ULAW")
        assert np.abs(y[:400]).max() < 0.001 and y[400:].min() > 0.97


def test_streaming_recorder_unknown_data_size_reads_whole_file(tmp_path):
    x = (np.arange(500, dtype="<i2") * 50)
    f = write_riff(tmp_path / "stream.wav", x.tobytes(), 16000, 1, 16, FMT_PCM, data_size=0xFFFFFFFF)
    np.testing.assert_allclose(audio.load(f)[0], x / 32768.0, atol=1e-7)


def test_to_float_mono_rejects_bad_shapes_and_nan():
    with pytest.raises(ParameterError):
        audio.to_float_mono(np.zeros((2, 2, 2)))
    with pytest.raises(AudioError):
        audio.to_float_mono(np.array([0.0, np.nan]))
    np.testing.assert_allclose(audio.to_float_mono(np.array([[16384, -16384]], dtype=np.int16)), [0.0])
    np.testing.assert_allclose(audio.to_float_mono(np.array([16384], dtype=np.int16)), [0.5])
    # integer channels are scaled, then mixed (a mean of integers is no longer integer)
    np.testing.assert_allclose(audio.to_float_mono(np.array([[16384, 8192]], dtype=np.int16)), [0.375])


# -- chunked reading equals whole-file reading ---------------------------------------------------
@pytest.mark.parametrize("chunk_size", [1, 7, 160, 1000, 4096, 16000, 10**6])
def test_iter_chunks_equals_load_same_rate(tmp_path, chunk_size):
    f = sound_files("train", "banana", 1)[0]
    y, _ = audio.load(f)
    chunks = list(audio.iter_chunks(f, chunk_size=chunk_size))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    if chunk_size < audio.info(f).n_samples:
        assert len(chunks) > 1
    np.testing.assert_array_equal(np.concatenate(chunks), y)


@pytest.mark.parametrize("orig_sr, chunk_size", [
    (8000, 1), (8000, 333), (8000, 4096),
    # 44100 and 22050 need a long polyphase filter that StreamResampler designs again for every
    # chunk (~1.5 ms each), so tiny chunks are only tried on a short file
    (44100, 37), (44100, 333), (44100, 4096), (44100, 44100), (44100, 10**6),
    (22050, 37), (22050, 1000), (22050, 16000),
])
def test_iter_chunks_equals_load_resampled(tmp_path, orig_sr, chunk_size):
    seconds = 0.4 if chunk_size < 100 else 1.3
    x = sine(440, orig_sr, seconds) + 0.1 * RNG.standard_normal(int(round(orig_sr * seconds)))
    f = write_std_wave(tmp_path / "long.wav", np.round(np.clip(x, -1, 1) * 32767), orig_sr, 2)
    y, _ = audio.load(f, sr=16000)
    got = np.concatenate(list(audio.iter_chunks(f, sr=16000, chunk_size=chunk_size)))
    assert len(got) == len(y)
    np.testing.assert_allclose(got, y, rtol=0, atol=1e-5)


def test_stream_resampler_chunks_equal_whole():
    x = RNG.standard_normal(20000).astype(np.float32)
    whole = audio.resample(x, 44100, 16000)
    rs = audio.StreamResampler(44100, 16000)
    sizes = RNG.integers(1, 3000, size=100)
    out, i = [], 0
    for n in sizes:
        out.append(rs.process(x[i:i + n]))
        i += n
        if i >= len(x):
            break
    out.append(rs.process(x[i:]))
    out.append(rs.flush())
    np.testing.assert_allclose(np.concatenate(out), whole, atol=1e-5)


def test_iter_chunks_rejects_bad_chunk_size(tmp_path):
    f = sound_files("train", "apple", 1)[0]
    with pytest.raises(ParameterError):
        list(audio.iter_chunks(f, chunk_size=0))


# -- writing ---------------------------------------------------------------------------------
def test_write_wav_round_trip_and_refuses_overwrite(tmp_path):
    x = sine(440, 16000, 0.25).astype(np.float32)
    f = audio.write_wav(tmp_path / "sub" / "out.wav", x, 16000)
    y, sr = audio.load(f)
    assert sr == 16000
    np.testing.assert_allclose(y, x, atol=1 / 32768 + 1e-7)
    before = f.read_bytes()
    with pytest.raises(AudioError, match="out.wav"):
        audio.write_wav(f, np.zeros(100), 16000)
    assert f.read_bytes() == before
    audio.write_wav(f, np.zeros(100), 8000, overwrite=True)
    y2, sr2 = audio.load(f)
    assert sr2 == 8000 and len(y2) == 100 and not y2.any()


def test_write_wav_clips_out_of_range(tmp_path):
    f = audio.write_wav(tmp_path / "clip.wav", np.array([2.0, -2.0, 0.5]), 16000)
    np.testing.assert_allclose(audio.load(f)[0], [32767 / 32768, -1.0, 0.5], atol=1e-7)

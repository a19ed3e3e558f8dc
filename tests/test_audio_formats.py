"""Audio through libsndfile: the very samples of the earlier WAV reader, and FLAC, OGG and MP3."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from hmmrec import audio
from hmmrec.corpus import load_corpus
from hmmrec.errors import AudioError

from helpers import SOUNDS, shared_dataset, sound_files
from test_audio import FMT_FLOAT, FMT_PCM, sine, write_riff, write_std_wave
from wav_reference import read_reference

RNG = np.random.default_rng(7)


def _wav_kinds(tmp_path) -> list:
    """One file of every WAV kind the tests write."""
    files = []
    for width, lo, hi in ((1, 0, 256), (2, -32768, 32768), (3, -8388608, 8388608), (4, -2**31, 2**31)):
        for ch in (1, 2, 3):
            ints = RNG.integers(lo, hi, size=(500, ch))
            files.append(write_std_wave(tmp_path / f"pcm{width}_{ch}.wav", ints, 16000, width))
    for dtype, bits in (("<f4", 32), ("<f8", 64)):
        x = RNG.uniform(-1, 1, size=(400, 2)).astype(dtype)
        files.append(write_riff(tmp_path / f"float{bits}.wav", x.tobytes(), 22050, 2, bits, FMT_FLOAT))
        files.append(write_riff(tmp_path / f"ext_float{bits}.wav", x.tobytes(), 22050, 2, bits, FMT_FLOAT,
                                extensible=True))
    for bits in (16, 24):
        ints = RNG.integers(-2**(bits - 1), 2**(bits - 1), size=300)
        raw = b"".join(int(v).to_bytes(bits // 8, "little", signed=True) for v in ints)
        files.append(write_riff(tmp_path / f"ext_pcm{bits}.wav", raw, 44100, 1, bits, FMT_PCM, extensible=True))
    files.append(write_riff(tmp_path / "odd_chunks.wav", (np.arange(300, dtype="<i2") * 7).tobytes(), 8000, 1, 16,
                            FMT_PCM, extra_chunks=b"LIST" + (3).to_bytes(4, "little") + b"abc\x00"))
    files.append(write_riff(tmp_path / "unknown_size.wav", (np.arange(300, dtype="<i2") * 9).tobytes(), 16000, 1, 16,
                            FMT_PCM, data_size=0xFFFFFFFF))
    return files


def test_every_wav_kind_gives_the_samples_of_the_earlier_reader(tmp_path):
    for f in _wav_kinds(tmp_path):
        ref, sr = read_reference(f)
        y, got_sr = audio.load(f)
        assert got_sr == sr, f.name
        np.testing.assert_array_equal(y, audio.to_float_mono(ref), err_msg=f.name)
        np.testing.assert_array_equal(np.concatenate(list(audio.iter_chunks(f, chunk_size=77))), y, err_msg=f.name)


def test_the_corpora_give_the_samples_of_the_earlier_reader():
    files = [p for split in ("train", "test") for p in sound_files(split, "kiwi", 3)]
    files += sorted((SOUNDS / "streams").glob("*.wav"))
    for rel, n in (("fsdd/recordings", 20), ("fruit/apple", 5), ("speech_commands/yes", 10),
                   ("speech_commands/_silence_", 2)):
        files += sorted(shared_dataset(rel).glob("*.wav"))[:n]
    for f in files:
        ref, sr = read_reference(f)
        y, got_sr = audio.load(f)
        assert got_sr == sr
        np.testing.assert_array_equal(y, audio.to_float_mono(ref), err_msg=str(f))


@pytest.mark.parametrize("fmt, subtype, suffix", [("FLAC", "PCM_16", ".flac"), ("FLAC", "PCM_24", ".flac"),
                                                  ("OGG", "VORBIS", ".ogg"), ("MP3", "MPEG_LAYER_III", ".mp3")])
def test_compressed_formats(tmp_path, fmt, subtype, suffix):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot read {fmt}")
    x = sine(440, 16000, 1.0, amp=0.5) + sine(1250, 16000, 1.0, amp=0.2)
    # integers, so that no float-to-integer rounding of the writers can differ
    ints = (np.round(x * 2**23).astype(np.int32) << 8) if subtype == "PCM_24" else np.round(x * 32767).astype(np.int16)
    pcm = tmp_path / "ref.wav"
    sf.write(pcm, ints, 16000, subtype=subtype if fmt == "FLAC" else "PCM_16")
    f = tmp_path / f"tone{suffix}"
    sf.write(f, ints, 16000, format=fmt, subtype=subtype)
    wi = audio.info(f)
    assert (wi.sr, wi.n_channels, wi.format) == (16000, 1, fmt)
    y, sr = audio.load(f)
    if fmt == "FLAC":  # lossless: the same samples as the WAV of the same data
        np.testing.assert_array_equal(y, audio.load(pcm)[0])
    else:  # lossy, and encoders add a little delay: the tones and the level survive
        assert abs(len(y) - 16000) < 3000
        spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        freqs = np.fft.rfftfreq(len(y), 1 / 16000)
        first = freqs[np.argmax(spec)]
        spec[np.abs(freqs - first) < 50] = 0
        assert abs(first - 440) < 5 and abs(freqs[np.argmax(spec)] - 1250) < 5
    y8, sr8 = audio.load(f, 8000)
    assert sr8 == 8000 and abs(len(y8) - len(y) / 2) <= 1
    np.testing.assert_allclose(np.concatenate(list(audio.iter_chunks(f, 8000, chunk_size=1000))), y8, atol=2e-4)


def test_a_corpus_of_flac_files(tmp_path):
    for label in ("yes", "no"):
        (tmp_path / label).mkdir()
        for i in range(2):
            sf.write(tmp_path / label / f"{label}_{i}.flac", sine(300 + 100 * i, 16000, 0.5), 16000)
    (tmp_path / "yes" / "notes.txt").write_text("not audio")
    corpus = load_corpus(tmp_path)
    assert corpus.counts() == {"no": 2, "yes": 2} and all(p.endswith(".flac") for p in corpus.paths)


def test_speech_commands_training_flac_reads():
    files = sorted(shared_dataset("speech_commands_train/yes").glob("*.flac"))[:5]
    assert files
    for f in files:
        y, sr = audio.load(f)
        assert sr == 16000 and 0 < len(y) <= 16000 and 0.01 < np.abs(y).max() <= 1.0
        assert audio.info(f).format == "FLAC"


def test_a_file_that_is_no_audio_keeps_the_one_line_error(tmp_path):
    f = tmp_path / "fake.flac"
    f.write_bytes(b"fLaC" + b"\x00" * 100)
    with pytest.raises(AudioError, match="fake.flac: "):
        audio.load(f)

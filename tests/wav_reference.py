"""The WAV reader of hmmrec releases before the switch to libsndfile, kept as a reference.

Tests read every WAV kind they use with it and with :mod:`hmmrec.audio` and require the
very same samples (``read_reference``: float32, (n_samples, n_channels), file rate).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np


class WavReferenceError(Exception):
    pass


def _fail(path, why):
    return WavReferenceError(f"{path}: {why}")


_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # data sizes written by streaming recorders


@dataclass(frozen=True)
class WavInfo:
    path: str
    sr: int
    n_channels: int
    sample_width: int  # bytes per sample of one channel
    is_float: bool
    n_samples: int  # per channel
    data_offset: int


def _parse_header(fh: BinaryIO, path) -> WavInfo:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise _fail(path, "empty file")
    head = fh.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise _fail(path, "not a WAV file (no RIFF/WAVE header)")
    if head[:4] == b"RIFX":
        raise _fail(path, "big-endian (RIFX) WAV files are not supported")
    fmt = None
    while True:
        chunk = fh.read(8)
        if len(chunk) < 8:
            if fmt is None:
                raise _fail(path, "truncated WAV header (no 'fmt ' chunk)")
            raise _fail(path, "truncated WAV file (no 'data' chunk)")
        cid, csize = struct.unpack("<4sI", chunk)
        if cid == b"fmt ":
            body = fh.read(csize)
            if len(body) < 16:
                raise _fail(path, "truncated 'fmt ' chunk")
            tag, n_channels, sr, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, n_channels, sr, block_align, bits)
            if csize % 2:
                fh.read(1)
        elif cid == b"data":
            if fmt is None:
                raise _fail(path, "malformed WAV ('data' before 'fmt ')")
            offset = fh.tell()
            available = size - offset
            if csize in _UNKNOWN_SIZES:
                csize = available
            elif csize > available:
                raise _fail(path, f"truncated WAV file (header promises {csize} data bytes, {available} present)")
            return _make_info(path, fmt, csize, offset)
        else:
            fh.seek(csize + (csize % 2), os.SEEK_CUR)


def _make_info(path, fmt, data_bytes: int, offset: int) -> WavInfo:
    tag, n_channels, sr, block_align, bits = fmt
    if n_channels < 1:
        raise _fail(path, f"invalid channel count {n_channels}")
    if sr < 1:
        raise _fail(path, f"invalid sample rate {sr}")
    if tag == _FORMAT_PCM and bits in (8, 16, 24, 32):
        is_float = False
    elif tag == _FORMAT_FLOAT and bits in (32, 64):
        is_float = True
    else:
        raise _fail(path, f"unsupported WAV encoding (format tag {tag:#x}, {bits} bits); use PCM or float")
    width = bits // 8
    if block_align != width * n_channels:
        block_align = width * n_channels
    n_samples = data_bytes // block_align
    return WavInfo(str(path), sr, n_channels, width, is_float, n_samples, offset)


def _decode(raw: bytes, wi: WavInfo) -> np.ndarray:
    """Decode interleaved frames into float32 of shape (n, channels) in [-1, 1]."""
    w = wi.sample_width
    if wi.is_float:
        data = np.frombuffer(raw, dtype="<f4" if w == 4 else "<f8").astype(np.float32)
    elif w == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif w == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif w == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8  # sign-extend 24 bits
        data = ints.astype(np.float32) / 8388608.0
    else:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
        data = data.astype(np.float32)
    return data.reshape(-1, wi.n_channels)




def read_reference(path) -> tuple[np.ndarray, int]:
    """(samples as float32 (n, channels), rate) as the old reader decoded them."""
    with open(path, "rb") as fh:
        wi = _parse_header(fh, path)
        fh.seek(wi.data_offset)
        raw = fh.read(wi.n_samples * wi.sample_width * wi.n_channels)
    return _decode(raw, wi), wi.sr

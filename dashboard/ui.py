"""Small presentation helpers shared by the pages."""

from __future__ import annotations


def md(text) -> str:
    """Text shown literally inside Markdown (labels like ``_silence_`` would turn italic)."""
    return "".join("\\" + ch if ch in "\\`*_[]<>#|~" else ch for ch in str(text))

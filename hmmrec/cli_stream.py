"""Streaming and live commands of ``hmmrec`` (stream, listen, devices, record)."""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register the streaming sub-commands (none yet)."""

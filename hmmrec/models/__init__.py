"""Models of real speech shipped inside the package, found by name.

``commands`` (yes no up down left right on off stop go, ``_unknown_`` and
``_silence_``, trained on the Speech Commands recordings of 130 speakers) and
``digits`` (zero to nine, Free Spoken Digit Dataset, 8 kHz). A shipped model's name
works wherever a model path does; a file of that name in the current folder comes
first. ``scripts/build_models.py`` builds them from the datasets; the datasets' licences
and attribution are in each model's training summary (``hmmrec info commands``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError

__all__ = ["SHIPPED", "DEFAULT", "names", "path_of", "resolve"]

_HERE = Path(__file__).resolve().parent
# name -> what it recognises
SHIPPED = {
    "commands": "yes, no, up, down, left, right, on, off, stop, go (16 kHz, Speech Commands)",
    "digits": "zero to nine (8 kHz, Free Spoken Digit Dataset)",
}
# the model `hmmrec listen` and the dashboard use when none is given
DEFAULT = "commands"


def names() -> list[str]:
    """Names of the shipped models present in this installation."""
    return [n for n in SHIPPED if path_of(n).is_file()]


def path_of(name: str) -> Path:
    """Where the shipped model ``name`` lives (whether or not it is present)."""
    return _HERE / f"{name}.model"


def resolve(spec) -> Path:
    """The model file that ``spec`` names: a path to a file, or a shipped model's name.

    Raises
    ------
    ModelFileError
        If ``spec`` is neither an existing file nor a shipped model's name.
    """
    p = Path(spec)
    if p.exists():
        return p
    if str(spec) not in SHIPPED:
        raise ModelFileError(f"{spec}: no such file (shipped models: {', '.join(SHIPPED)})")
    shipped = path_of(str(spec))
    if not shipped.is_file():
        raise ModelFileError(f"{spec}: the shipped model is missing from this installation "
                             "(build it with scripts/build_models.py)")
    return shipped

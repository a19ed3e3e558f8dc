"""Manifests from file names: a flat folder such as FSDD's ``{digit}_{speaker}_{take}.wav``
becomes a CSV manifest (``path,label[,speaker,...]``) that every command reads.

A pattern is matched against each audio file's path below the folder (``/`` between
folders): ``{name}`` is one field (any characters but ``/``), ``*`` any characters but
``/``, ``**/`` any folders; everything else must match literally. ``{label}`` is
required; ``{speaker}`` and ``{take}`` (a whole number) are understood by the splits.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .audio import SUFFIXES
from .errors import DataError, ParameterError
from .safefile import write_atomically

__all__ = ["ManifestRow", "rows_from_pattern", "split_rows", "write_manifest"]

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ManifestRow:
    path: Path
    label: str
    fields: dict = field(default_factory=dict)  # every field of the pattern, label included


def _pattern_regex(pattern: str) -> tuple[re.Pattern, list[str]]:
    names, out = [], []
    pieces = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\}|\*\*/|\*)", pattern)
    for piece in pieces:
        m = _FIELD.fullmatch(piece)
        if m:
            name = m.group(1)
            if name in names:
                raise ParameterError(f"pattern {pattern!r}: field {{{name}}} appears twice")
            names.append(name)
            out.append(f"(?P<{name}>[^/]+?)")
        elif piece == "**/":
            out.append("(?:[^/]+/)*")
        elif piece == "*":
            out.append("[^/]*")
        else:
            out.append(re.escape(piece))
    if "label" not in names:
        raise ParameterError(f"pattern {pattern!r} has no {{label}} field (e.g. '{{label}}_{{speaker}}_{{take}}.wav')")
    return re.compile("".join(out)), names


def rows_from_pattern(folder, pattern: str) -> list[ManifestRow]:
    """Every audio file under ``folder`` whose path below it matches ``pattern``, sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{folder}: no such folder")
    regex, names = _pattern_regex(pattern)
    rows = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in SUFFIXES:
            continue
        m = regex.fullmatch(p.relative_to(root).as_posix())
        if m:
            fields = m.groupdict()
            if "take" in fields and not fields["take"].isdigit():
                continue
            rows.append(ManifestRow(p, fields["label"], fields))
    if not rows:
        raise DataError(f"{folder}: no audio file below it matches the pattern {pattern!r}")
    return rows


def split_rows(rows: list[ManifestRow], test_takes: int | None = None,
               test_speakers: list[str] | None = None) -> tuple[list, list]:
    """(train, test): takes ``0 .. test_takes-1`` are test (FSDD's official split), or the
    given speakers are."""
    if (test_takes is None) == (not test_speakers):
        raise ParameterError("split by takes or by speakers, not both or neither")
    key = "take" if test_takes is not None else "speaker"
    if any(key not in r.fields for r in rows):
        raise ParameterError(f"splitting by {key}s needs a {{{key}}} field in the pattern")
    if test_takes is not None:
        is_test = [int(r.fields["take"]) < test_takes for r in rows]
    else:
        unknown = set(test_speakers) - {r.fields["speaker"] for r in rows}
        if unknown:
            raise ParameterError(f"no files of speaker(s) {', '.join(sorted(unknown))}")
        is_test = [r.fields["speaker"] in set(test_speakers) for r in rows]
    train = [r for r, t in zip(rows, is_test) if not t]
    test = [r for r, t in zip(rows, is_test) if t]
    if not train or not test:
        raise ParameterError(f"the split leaves {'no training' if not train else 'no test'} files")
    return train, test


def _path_for(p: Path, csv_dir: Path) -> str:
    """Relative to the CSV's folder when the file is below it, else absolute."""
    rel = os.path.relpath(p.resolve(), csv_dir.resolve())
    return str(p.resolve()) if rel.startswith("..") else Path(rel).as_posix()


def write_manifest(path, rows: list[ManifestRow], force: bool = False) -> Path:
    """Write ``rows`` as a CSV manifest: ``path,label``, then the pattern's other fields."""
    out = Path(path)
    if out.exists() and not force:
        raise DataError(f"{out}: already exists; not overwriting (use --force to replace it)")
    extra = [k for k in rows[0].fields if k != "label"]

    def write(fh):
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        w = csv.writer(text)
        w.writerow(["path", "label", *extra])
        for r in rows:
            w.writerow([_path_for(r.path, out.parent), r.label, *(r.fields.get(k, "") for k in extra)])
        text.flush()
        text.detach()

    return write_atomically(out, write, overwrite=True)

"""Benchmarks that write their measured section into a docs page, between two markers."""

from __future__ import annotations

from pathlib import Path


def write_section(doc: Path, name: str, text: str) -> None:
    """Replace what lies between `name`'s markers in `doc` with `text`."""
    begin = f"<!-- {name}: begin (written by the script) -->"
    end = f"<!-- {name}: end -->"
    head, _, rest = doc.read_text().partition(begin)
    if not rest:
        raise SystemExit(f"{doc} has no {begin!r} marker")
    _, _, tail = rest.partition(end)
    doc.write_text(f"{head}{begin}\n{text}\n{end}{tail}")

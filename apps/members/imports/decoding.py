"""From the uploaded bytes to rows of cells: `_decode` (UTF-8 with or without BOM,
UTF-16 with BOM, else Windows-1252), `_sniff_delimiter` (`,` `;` tab or `|`),
`_Records` (the CSV records with the row numbers a spreadsheet shows) and
`_find_header` (the header row: the first non-blank row, or one of the next few when
the file starts with a title line).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from .columns import _map_headers, _Mapping

HEADER_SEARCH_ROWS = 5
"""Non-blank rows searched for the header row (exports sometimes start with a title)."""

DELIMITERS = ",;\t|"


def _decode(data: bytes | str) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), "text"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"  # decodes any bytes


def _sniff_delimiter(text: str) -> str:
    """The delimiter, by `csv.Sniffer` over the first lines, checked against the header
    line (which rarely holds a delimiter inside a cell); "," when nothing tells."""
    sample = text[:65536]
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    first = lines[0] if lines else ""
    counts = {d: first.count(d) for d in DELIMITERS}
    try:
        sniffed: str | None = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and (counts[sniffed] or not any(counts.values())):
        return sniffed
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Records:
    """(row number, cells) for every record; row numbers count records as a
    spreadsheet shows them (a quoted cell with line breaks is one row)."""

    def __init__(self, text: str, delimiter: str):
        self._reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        self.number = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return self

    def __next__(self) -> tuple[int, list[str]]:
        cells = next(self._reader)
        self.number += 1
        return self.number, cells


def _find_header(records: _Records) -> tuple[int, list[str], _Mapping] | None:
    """The header row: the first non-blank row, or one of the next few non-blank
    rows if the first has no name column (a title line above the table)."""
    first: tuple[int, list[str], _Mapping] | None = None
    seen = 0
    for number, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        mapping = _map_headers(cells)
        if mapping.has_name:
            return number, cells, mapping
        if first is None:
            first = (number, cells, mapping)
        seen += 1
        if seen == HEADER_SEARCH_ROWS:
            break
    return first

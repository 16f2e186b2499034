"""Streaming CSV with spreadsheet formula injection defused."""

import csv

# A cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """The value as text, with a leading apostrophe if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer to stream through."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows):
    """Yield CSV lines: the header, then each row (an iterable of values), every cell made safe."""
    writer = csv.writer(_Echo())
    yield writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])

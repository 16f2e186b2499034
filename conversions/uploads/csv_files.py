"""Reading the CSVs advertisers upload, and writing the CSVs we hand back.

We accept what spreadsheets save: UTF-8 with or without a byte order mark, UTF-16 or Windows-1252 (Excel),
`,` or `;` (where the decimal mark is a comma) between fields, CRLF line ends; and refuse what is not text.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice

from django.http import HttpResponse, StreamingHttpResponse

from core.errors import DomainError

# Control characters that never occur in a text CSV (tab, LF and CR do).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvFileInvalid(DomainError):
    """The file as a whole cannot be read; the message says why, for the user."""

    code = "csv_invalid"


def csv_text_decode(raw: bytes) -> str:
    """The file's text: UTF-8 (a BOM is dropped), else Windows-1252; binary data is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" is UTF-16 with a byte order mark.
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise CsvFileInvalid("The file starts as UTF-16 text but is cut short or broken.") from None
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if not raw.strip():  # after the byte order mark: alone, it is an empty file too
        raise CsvFileInvalid("The file is empty.")
    if _BINARY.search(raw):
        raise CsvFileInvalid("This is not a CSV text file (it contains binary data). Upload a .csv file.")
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    raise CsvFileInvalid("The file is neither UTF-8 nor Windows-1252 text. Save it as “CSV UTF-8” and upload it again.")


@dataclass(slots=True)
class CsvRow:
    number: int
    values: dict[str, str]
    extra_cells: int = 0  # non-blank cells beyond the header's columns

    def get(self, column: str) -> str:
        return (self.values.get(column) or "").strip()


@dataclass
class CsvTable:
    """The header (names stripped and lower-cased) and the data rows with their spreadsheet row numbers."""

    header: list[str]
    delimiter: str
    text: str
    row_count: int  # non-blank data rows

    def rows(self, start: int = 0) -> Iterator["CsvRow"]:
        """The data rows after the first `start` non-blank ones; blank rows are skipped."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        next(reader)
        header, width = self.header, len(self.header)
        # Row numbers as a spreadsheet shows them: the header is row 1, blank rows count, a quoted
        # line break inside a cell does not.
        filled = ((record, cells) for record, cells in enumerate(reader, start=2) if "".join(cells).strip())
        for record, cells in islice(filled, start, None):
            extra = sum(1 for cell in cells[width:] if cell.strip()) if len(cells) > width else 0
            yield CsvRow(record, dict(zip(header, cells, strict=False)), extra)


def csv_table_read(raw: bytes) -> CsvTable:
    """Decode, sniff the delimiter and read the header; raises CsvFileInvalid for a file that is not a table."""
    text = csv_text_decode(raw)
    # `;` or `,`, whichever splits the header line into more cells (header names never contain either).
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = [name.strip().lower() for name in next(reader)]
        # Read it all once, so that a broken quote fails here and not half-way through an import.
        row_count = sum(1 for cells in reader if "".join(cells).strip())
    except csv.Error as error:
        raise CsvFileInvalid(f"The file is not valid CSV: {error}.") from None
    if not any(header):
        raise CsvFileInvalid("The first row must be the header, naming the columns.")
    if repeated := sorted({name for name in header if name and header.count(name) > 1}):
        raise CsvFileInvalid(f"These columns appear more than once: {', '.join(repeated)}.")
    return CsvTable(header=header, delimiter=delimiter, text=text, row_count=row_count)


def csv_safe(value) -> str:
    """A cell for an export: text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def csv_download(filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> HttpResponse:
    """An attachment response with a CSV of escaped cells (see csv_safe)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerows([csv_safe(cell) for cell in row] for row in [header, *rows])
    return response


class _Echo:
    """A file whose write returns the line, for csv.writer to produce lines one at a time."""

    def write(self, value: str) -> str:
        return value


def csv_stream(filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """csv_download for exports of any size: the rows are written as the client reads them."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    lines = (writer.writerow([csv_safe(cell) for cell in row]) for row in chain([header], rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

"""Reading a CSV file as a stream: where the bytes come from, their encoding, the delimiter,
the header and the rows. Nothing here holds more than a chunk of the file in memory."""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1024 * 1024
SAMPLE_BYTES = 64 * 1024
# Limits of an import file (README, security): a header must fit in the sample, so a file of
# 100,000 columns is refused from its first 64 KB before anything parses it.
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000
MAX_ROWS = 1_000_000
# Bytes that cp1252 leaves undefined: a file containing them can only be read as Latin-1.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DELIMITERS = ",;\t|"
# Spreadsheet exports (ours included) put a quote before a cell that starts like a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(ValueError):
    """The file cannot be read as CSV at all (empty, a spreadsheet, no header)."""


class ByteSource:
    """Where an import's bytes come from; each ``open()`` starts a fresh binary stream."""

    name: str = ""
    size: int = 0

    def open(self) -> io.RawIOBase:
        raise NotImplementedError


class PathSource(ByteSource):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        self.size = self.path.stat().st_size

    def open(self) -> io.RawIOBase:
        return self.path.open("rb", buffering=0)


class BytesSource(ByteSource):
    def __init__(self, data: bytes, name: str = "upload.csv"):
        self.data, self.name, self.size = data, name, len(data)

    def open(self) -> io.RawIOBase:
        return io.BytesIO(self.data)


class CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes read through it (the progress of an import)."""

    def __init__(self, raw):
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        if not data:
            return 0
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        return size

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()


def iter_chunks(source: ByteSource, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with source.open() as stream:
        while chunk := stream.read(size):
            yield chunk


def detect_encoding(source: ByteSource) -> str:
    """A byte-order mark decides; otherwise UTF-8 if the whole file decodes as UTF-8 (checked
    chunk by chunk), else cp1252 (Excel on Windows), else Latin-1 (which reads any byte)."""
    chunks = iter_chunks(source)
    first = next(chunks, b"")
    for bom, name in _BOMS:
        if first.startswith(bom):
            return name
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, cp1252 = True, True
    for chunk in _chain(first, chunks):
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
        if cp1252 and any(byte in chunk for byte in _CP1252_UNDEFINED):
            cp1252 = False
        if not utf8 and not cp1252:
            break
    if utf8:
        try:
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "cp1252" if cp1252 else "latin-1"


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


@dataclass
class CsvLayout:
    encoding: str
    delimiter: str
    header: list[str]


def _looks_binary(sample: bytes) -> str | None:
    if sample.startswith(b"PK\x03\x04"):
        return "This is an Excel (.xlsx) or other zipped file: save it as CSV and upload that."
    if sample.startswith(b"\xd0\xcf\x11\xe0"):
        return "This is an old Excel (.xls) file: save it as CSV and upload that."
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "This does not look like a text (CSV) file."
    return None


def open_text(source: ByteSource, encoding: str) -> tuple[io.TextIOWrapper, CountingReader]:
    counter = CountingReader(source.open())
    # newline="" lets the csv module see line breaks inside quoted cells.
    return io.TextIOWrapper(io.BufferedReader(counter, CHUNK_BYTES), encoding=encoding, newline=""), counter


def unique_header(cells: list[str]) -> list[str]:
    """Header cells trimmed, blanks named by position, repeats numbered, so each column has a
    distinct name to map."""
    names: list[str] = []
    taken: set[str] = set()
    for position, cell in enumerate(cells, 1):
        name = cell.strip().lstrip("\ufeff") or f"Column {position}"
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name} ({n})", n + 1
        names.append(candidate)
        taken.add(candidate)
    return names


def read_layout(source: ByteSource) -> CsvLayout:
    """Encoding, delimiter and header of a file. Raises ImportFileError for what is not CSV."""
    with source.open() as stream:
        sample = stream.read(SAMPLE_BYTES) or b""
    if not sample.strip():
        raise ImportFileError("The file is empty.")
    problem = _looks_binary(sample)
    if problem:
        raise ImportFileError(problem)
    if len(sample) == SAMPLE_BYTES and not any(end in sample for end in (b"\n", b"\r")):
        raise ImportFileError(
            f"The first line (the header) is longer than {SAMPLE_BYTES // 1024} KB: "
            f"an import may have at most {MAX_COLUMNS} columns."
        )
    encoding = detect_encoding(source)
    text_sample = sample.decode(encoding, errors="ignore")
    # Sniff on whole lines only; a cut-off last line confuses the sniffer.
    lines = text_sample.splitlines()[:50] if "\n" in text_sample else [text_sample]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        counts = {d: first.count(d) for d in _DELIMITERS}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    text, _ = open_text(source, encoding)
    try:
        with text:
            header = next(csv.reader(text, delimiter=delimiter), [])
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"The first line cannot be read as CSV: {exc}.") from None
    if not any(cell.strip() for cell in header):
        raise ImportFileError("The first line must name the columns (a header row).")
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(
            f"The file has {len(header)} columns; an import may have at most {MAX_COLUMNS}."
        )
    return CsvLayout(encoding=encoding, delimiter=delimiter, header=unique_header(header))


@dataclass
class SourceRow:
    line: int
    cells: list[str]


def iter_rows(text: io.TextIOBase, delimiter: str) -> Iterator[SourceRow]:
    """Data rows after the header, with the file line each ends on; blank rows are left out.
    A row past the limits (columns, cell size, number of rows) stops the file with the reason."""
    reader = csv.reader(text, delimiter=delimiter)
    try:
        next(reader, None)
        rows = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            rows += 1
            if rows > MAX_ROWS:
                raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows; split it.")
            if len(cells) > MAX_COLUMNS:
                raise ImportFileError(
                    f"Line {reader.line_num} has {len(cells)} cells; "
                    f"an import may have at most {MAX_COLUMNS}."
                )
            if any(len(cell) > MAX_CELL_CHARS for cell in cells):
                raise ImportFileError(
                    f"Line {reader.line_num} has a cell longer than {MAX_CELL_CHARS:,} characters."
                )
            yield SourceRow(line=reader.line_num, cells=cells)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"The file cannot be read after line {reader.line_num}: {exc}.") from None


def clean_cell(value: str) -> str:
    """Trimmed text, with the quote a spreadsheet export puts before formula-like text removed."""
    value = value.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_START:
        return value[1:]
    return value

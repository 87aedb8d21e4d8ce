"""A file's content type from its first bytes, never from its name."""

import codecs
import csv

HEAD = 8192
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"\x93NUMPY", "application/x-npy"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
)
DELIMITERS = ",;\t|"


def sniff(head: bytes, whole: bool = False) -> str:
    """The type of content that starts with `head` (up to HEAD bytes of it; `whole`: all of it)."""
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "application/x-tar"
    text = _text(head)
    if text is None:
        return "application/octet-stream"
    stripped = text.lstrip()
    if stripped.startswith("<svg") or (stripped.startswith("<?xml") and "<svg" in stripped[:1024]):
        return "image/svg+xml"
    lines = text.splitlines()
    if not whole and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # cut by the head's end
    complete = [line for line in lines if line.strip()]
    if stripped.startswith("{") and len(complete) > 1 and all(line.lstrip().startswith("{") for line in complete):
        return "application/x-ndjson"
    if stripped.startswith(("{", "[")):
        return "application/json"
    if delimiter(complete):
        return "text/csv"
    return "text/plain"


def _text(head: bytes) -> str | None:
    """The head as text: UTF-8 (a character cut at the end is fine), no NUL, few controls."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f\v")
    if "\x00" in text or controls > len(text) // 100:
        return None
    return text


def delimiter(lines: list[str]) -> str | None:
    """The delimiter of lines that look like a table: at least two lines, each with the same
    number (one or more) of one delimiter, quoted fields counted as CSV counts them."""
    if len(lines) < 2:
        return None
    sample = lines[:50]
    for d in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(sample, delimiter=d)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return d
    return None

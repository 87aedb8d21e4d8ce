"""The filter stage's checks of a job's results against its output policy (c2d.job.policy).

Inputs first: every dataset file (archives unpacked) gives the fingerprints of its bytes
(c2d.filter.fingerprints) and, when it is a table (CSV, JSON lines), the hashes of its rows and
the sizes of the groups the policy names. Then every output, every output's name and the
algorithm's log: their limits, their content types, their fingerprints — of the bytes as they
are, decoded (base64, hex, URL-encoding) and unpacked (gzip, bzip2, xz, zip, tar) — and their
rows. Fingerprints and rows beyond memory go to disk (c2d.filter.store) under the stage's own
folder; the two sides are joined at the end. Memory is bounded whatever the sizes; time is linear
in the bytes read.
"""

import base64
import binascii
import bz2
import csv
import gzip
import hashlib
import io
import json
import lzma
import math
import os
import re
import shutil
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote_to_bytes

import numpy as np

from c2d.filter.fingerprints import Winnower
from c2d.filter.sniff import HEAD, delimiter, sniff
from c2d.filter.store import HashSet, common
from c2d.job import layout
from c2d.job.policy import (
    ARCHIVE_TYPES,
    MAX_CHECKED,
    MAX_FINDINGS,
    Checked,
    FilterReport,
    Finding,
    OutputPolicy,
    is_withheld,
)

PIECE = 1 << 20
MAX_DEPTH = 4  # archives inside archives
MAX_LINE = 1 << 20  # a table's line beyond this ends its rows (the bytes are still fingerprinted)
MAX_GROUPS = 1 << 20  # distinct values of a group column that are counted
MIN_ROW_FIELDS = 2
RUN_PIECE = 1 << 20  # characters of one encoded run decoded at once


class Rejected(Exception):
    """A finding that ends the check at once (nothing after it could change the decision)."""


@dataclass
class Item:
    """Something checked: `label` is how the consumer may see it."""

    label: str
    tag: int


@dataclass
class Checker:
    policy: OutputPolicy
    job_dir: Path
    scratch: Path
    findings: list[Finding] = field(default_factory=list)
    checked: list[Checked] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    input_bytes: int = 0
    output_bytes: int = 0
    expanded: int = 0
    input_expanded: int = 0
    checks: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)  # outputs a publisher's filter removed: not checked

    def __post_init__(self) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        v = self.policy.verbatim
        self.verbatim = v.enabled
        self.rows = self.policy.rows.enabled
        self.in_prints = HashSet(self.scratch, "input-prints")
        self.out_prints = HashSet(self.scratch, "output-prints")
        self.in_rows = HashSet(self.scratch, "input-rows")
        self.out_rows = HashSet(self.scratch, "output-rows")
        self.names = bytearray()  # every output's name, in the order walked
        self.groups: dict[str, dict[str, int]] = {r.column: {} for r in self.policy.rows.minGroupSize}
        self.too_many_groups: set[str] = set()

    # ---- findings ----

    def find(self, check: str, item: str, detail: str = "", final: bool = False) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(check=check, item=item[:512], detail=detail[:2048]))
        if final or len(self.findings) >= MAX_FINDINGS:
            raise Rejected

    # ---- the whole check ----

    def run(self) -> FilterReport:
        started = time.monotonic()
        p = self.policy
        self.checks = ["limits"] + (["verbatim"] if self.verbatim else []) + (["rows"] if self.rows else [])
        if p.rows.enabled and p.rows.minGroupSize:
            self.checks.append("rows.minGroupSize")
        try:
            if self.verbatim or self.rows:
                self._inputs()
            self._outputs()
            self._log()
            self._join()
        except Rejected:
            pass
        finally:
            for s in (self.in_prints, self.out_prints, self.in_rows, self.out_rows):
                s.remove()
        return FilterReport(
            accepted=not self.findings,
            checks=self.checks,
            findings=self.findings,
            outputs=self.checked[:MAX_CHECKED],
            withheld=self.withheld[:MAX_CHECKED],
            inputBytes=self.input_bytes,
            outputBytes=self.output_bytes,
            seconds=round(time.monotonic() - started, 3),
        )

    # ---- inputs ----

    def _inputs(self) -> None:
        inputs = layout.data(self.job_dir) / "inputs"
        for did in sorted(os.listdir(inputs)) if inputs.is_dir() else []:
            folder = inputs / did
            if not did.startswith("did:") or folder.is_symlink() or not folder.is_dir():
                continue  # userdata/ and algoCustomData.json are the consumer's own
            for name in sorted(os.listdir(folder)):
                path = folder / name
                if path.is_symlink() or not path.is_file():
                    continue
                with path.open("rb") as handle:
                    self._input_stream(handle, 0)

    def _input_stream(self, stream: IO[bytes], depth: int) -> None:
        head = _peek(stream)
        kind = sniff(head)
        if kind in ARCHIVE_TYPES and depth < MAX_DEPTH:
            try:
                for member in _members(kind, stream, self.scratch, self._input_budget):
                    self._input_stream(member.stream, depth + 1)
                return
            except (_Unreadable, _Budget, *BROKEN):
                if not stream.seekable():  # what was read of it is fingerprinted
                    return
                stream.seek(0)  # its bytes as they are, then
        prints = Winnower(self.policy.verbatim.minRun) if self.verbatim else None
        rows = _Rows(self, None, kind) if self.rows and kind in TABLES else None
        for piece in _pieces(stream):
            self.input_bytes += len(piece)
            if prints:
                self.in_prints.add(prints.feed(piece))
            if rows:
                rows.feed(piece)
        if prints:
            self.in_prints.add(prints.finish())
        if rows:
            rows.finish()

    def _budget(self, n: int) -> None:
        self.expanded += n
        if self.expanded > self.policy.verbatim.maxExpandedBytes:
            raise _Budget

    def _input_budget(self, n: int) -> None:
        self.input_expanded += n
        if self.input_expanded > self.policy.verbatim.maxExpandedBytes:
            raise _Budget

    # ---- outputs ----

    def _outputs(self) -> None:
        limits = self.policy.limits
        outputs = layout.outputs(self.job_dir)
        patterns = [re.compile(p) for p in limits.namePatterns]
        files = total = 0
        entries: list[tuple[Path, str]] = []
        for root, dirs, names in os.walk(outputs, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not self._withheld(Path(root) / d, outputs))
            for name in dirs + sorted(names):
                path = Path(root) / name
                if self._withheld(path, outputs):
                    continue  # not published: nothing of it leaves
                rel = os.fsdecode(path.relative_to(outputs))
                shown = self._name(name, rel, patterns)
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue  # publish never publishes links or devices
                if path.is_file():
                    files += 1
                    total += path.stat().st_size
                    entries.append((path, shown))
        if self.verbatim and self.names:  # slices spread over names, in the order they sort
            self._verbatim_bytes(bytes(self.names), "the outputs' names", kind="name")
        if files > limits.maxFiles:
            self.find("limits.maxFiles", f"{files} output files", f"more than {limits.maxFiles}", final=True)
        if total > limits.maxBytes:
            self.find("limits.maxBytes", f"{total} bytes of outputs", f"more than {limits.maxBytes}", final=True)
        for path, shown in entries:
            with path.open("rb") as handle:
                self._output(handle, shown, os.fsdecode(path.relative_to(outputs)), 0)

    def _withheld(self, path: Path, outputs: Path) -> bool:
        return bool(self.withheld) and is_withheld(os.fsdecode(path.relative_to(outputs)), self.withheld)

    def _name(self, name: str, rel: str, patterns: list[re.Pattern[str]]) -> str:
        """Checks a path component's name; how the output is shown (its path, unless a name in
        it is a finding)."""
        label = "an output's name"
        try:
            name.encode("utf-8")
            valid = True
        except UnicodeEncodeError:
            valid = False
        if not valid or not all(p.fullmatch(name) for p in patterns):
            self.find("limits.namePatterns", label, f"{rel!r} does not match the policy's name patterns")
            return label
        if self.verbatim:
            self._verbatim_bytes(name.encode(), label, kind="name")
            if len(self.names) < 1 << 24:
                self.names += name.encode()
        return f"outputs/{rel}"

    def _output(self, stream: IO[bytes], shown: str, name: str, depth: int) -> None:
        head = _peek(stream)
        kind = sniff(head)
        if kind not in self.policy.limits.contentTypes:
            self.find("limits.contentTypes", shown, f"{kind} is not allowed")
            return
        digest = hashlib.sha256()
        size = 0
        if kind in ARCHIVE_TYPES and self.verbatim:
            if self.policy.verbatim.archives == "refuse":
                self.find("verbatim.archives", shown, f"{kind}: the policy refuses archives")
                return
            if depth >= MAX_DEPTH:
                self.find("verbatim.archives", shown, f"archives nested deeper than {MAX_DEPTH}")
                return
            try:
                for member in _members(kind, stream, self.scratch, self._budget):
                    label = f"{shown} > {member.name}" if member.name else shown
                    if member.name:
                        self._verbatim_bytes(
                            member.name.encode("utf-8", "replace"), f"{shown} (a member's name)", "name"
                        )
                    self._output(member.stream, label, f"{name}/{member.name}", depth + 1)
            except _Budget:
                self.find(
                    "verbatim.archives",
                    shown,
                    f"archives expand beyond {self.policy.verbatim.maxExpandedBytes} bytes",
                    final=True,
                )
            except (_Unreadable, *BROKEN) as exc:
                why = str(exc) if isinstance(exc, _Unreadable) else type(exc).__name__
                self.find("verbatim.archives", shown, f"{kind} that cannot be read: {why}")
            if stream.seekable():
                stream.seek(0)
                for piece in _pieces(stream):
                    digest.update(piece)
                    size += len(piece)
            if depth == 0:
                self._record(name, size, digest.hexdigest(), kind)
            return
        size, sha256 = self._checked_stream(stream, self._item(shown), kind)
        if depth == 0:
            self._record(name, size, sha256, kind)

    def _checked_stream(self, stream: IO[bytes], tag: int, kind: str) -> tuple[int, str]:
        """A stream's fingerprints (as it is and decoded) and rows under `tag`; its size and sha256."""
        digest, size = hashlib.sha256(), 0
        views = _Views(self, tag) if self.verbatim else None
        rows = _Rows(self, tag, kind) if self.rows and kind in TABLES else None
        for piece in _pieces(stream):
            size += len(piece)
            digest.update(piece)
            if views:
                views.feed(piece)
            if rows:
                rows.feed(piece)
        if views:
            views.finish()
        if rows:
            rows.finish()
        return size, digest.hexdigest()

    def _record(self, name: str, size: int, sha256: str, kind: str) -> None:
        if len(self.checked) < MAX_CHECKED:
            self.checked.append(Checked(name=name, bytes=size, sha256=sha256, type=kind))

    def _item(self, label: str) -> int:
        self.items.append(Item(label, len(self.items)))
        return len(self.items) - 1

    def _verbatim_bytes(self, data: bytes, label: str, kind: str) -> None:
        views = _Views(self, self._item(label))
        views.feed(data)
        views.finish()

    def _log(self) -> None:
        path = layout.log(self.job_dir, "algorithm")
        if not path.is_file() or path.is_symlink():
            return
        with path.open("rb") as handle:
            kind = sniff(_peek(handle))
            size, sha256 = self._checked_stream(handle, self._item("the algorithm's log"), kind)
        self._record("algorithm.log", size, sha256, "text/plain")

    # ---- the join ----

    def _join(self) -> None:
        if self.verbatim:
            for tag, count in sorted(common(self.in_prints, self.out_prints).items()):
                self.find(
                    "verbatim",
                    self.items[tag].label,
                    f"{count} fingerprint(s) of runs of {self.policy.verbatim.minRun}+ bytes of an input",
                )
        if self.rows:
            for tag, count in sorted(common(self.in_rows, self.out_rows).items()):
                self.find("rows", self.items[tag].label, f"{count} row(s) equal to an input's rows")


# ---- decoded views of an output ----


@dataclass
class _Encoding:
    name: str
    runs: re.Pattern[bytes]
    strip: bytes  # removed from a run before decoding (line breaks, separators)
    unit: int  # characters decoded together
    ratio: float  # characters per decoded byte
    decode: Callable[[bytes], bytes]
    offsets: int  # alignments tried (a run's first characters may not be the encoding's)
    needs: bytes = b""  # a run holds this, or it is not encoded


def _b64(chars: bytes) -> bytes:
    chars = chars.translate(_URLSAFE)
    return base64.b64decode(chars[: len(chars) // 4 * 4])


def _hex(chars: bytes) -> bytes:
    return binascii.unhexlify(chars[: len(chars) // 2 * 2])


def _url(chars: bytes) -> bytes:
    return unquote_to_bytes(chars)


_URLSAFE = bytes.maketrans(b"-_", b"+/")
ENCODINGS = {
    "base64": _Encoding("base64", re.compile(rb"[A-Za-z0-9+/\-_\r\n]+"), b"\r\n", 4, 4 / 3, _b64, 4),
    "hex": _Encoding("hex", re.compile(rb"[0-9A-Fa-f\r\n :]+"), b"\r\n :", 2, 2.0, _hex, 2),
    "url": _Encoding("url", re.compile(rb"[A-Za-z0-9%._~+\-/=&:;,!*'()@$]+"), b"", 3, 1.0, _url, 1, needs=b"%"),
}


class _Decoded:
    """One alignment of one encoding: the decoded bytes of the runs, one stream to fingerprint."""

    def __init__(self, checker: Checker, enc: _Encoding, offset: int, tag: int) -> None:
        self.checker, self.enc, self.offset, self.tag = checker, enc, offset, tag
        self.prints = Winnower(checker.policy.verbatim.minRun)
        self.pending = bytearray()
        self.skip = offset

    def add(self, chars: bytes) -> None:
        if self.skip:
            drop = min(self.skip, len(chars))
            chars, self.skip = chars[drop:], self.skip - drop
        self.pending += chars
        if len(self.pending) >= RUN_PIECE:
            cut = len(self.pending) // self.enc.unit * self.enc.unit
            if self.enc.name == "url":  # never between % and its two digits
                cut = len(self.pending) - 2 if b"%" in self.pending[-2:] else len(self.pending)
            self._decode(bytes(self.pending[:cut]))
            del self.pending[:cut]

    def end_run(self) -> None:
        if self.pending:
            self._decode(bytes(self.pending))
        self.pending.clear()
        self.skip = self.offset

    def _decode(self, chars: bytes) -> None:
        try:
            decoded = self.enc.decode(chars)
        except (binascii.Error, ValueError):
            return
        self.checker.output_bytes += len(decoded)
        self.checker.out_prints.add(self.prints.feed(decoded), self.tag)

    def finish(self) -> None:
        self.end_run()
        self.checker.out_prints.add(self.prints.finish(), self.tag)


class _Runs:
    """The runs of one encoding's characters in a stream fed in pieces, each run long enough
    to carry minRun bytes handed to the encoding's alignments."""

    def __init__(self, checker: Checker, enc: _Encoding, tag: int) -> None:
        self.enc = enc
        self.min_chars = math.ceil(checker.policy.verbatim.minRun * enc.ratio)
        self.views = [_Decoded(checker, enc, o, tag) for o in range(enc.offsets)]
        self.run = bytearray()  # the current run while it is short
        self.long = False  # the current run is long: handed on as it comes
        self.marked = False  # the current run holds enc.needs
        self.table = np.array([bool(enc.runs.fullmatch(bytes([b]))) for b in range(256)])

    def feed(self, piece: bytes) -> None:
        """The runs are found with numpy (a table lookup, then where membership changes), so
        only runs long enough cost a Python step; the run that touches the piece's end may go
        on in the next one."""
        if not piece:
            return
        member = self.table[np.frombuffer(piece, dtype=np.uint8)]
        edges = np.flatnonzero(member[1:] != member[:-1]) + 1
        bounds = np.concatenate(([0], edges, [len(piece)]))
        first = 0 if member[0] else 1  # runs are every other segment
        starts, ends = bounds[:-1][first::2], bounds[1:][first::2]
        size = len(piece)
        i = 0
        if self.run or self.long:  # the run at the last piece's end
            if len(starts) and starts[0] == 0:
                self._add(piece[: ends[0]])
                if ends[0] == size:
                    return
                i = 1
            self._end()
        last = len(starts)
        tail = last > i and ends[-1] == size
        if tail:
            last -= 1
        lengths = ends[i:last] - starts[i:last]
        for j in np.flatnonzero(lengths >= self.min_chars) + i:
            self._add(piece[starts[j] : ends[j]])
            self._end()
        if tail:
            self._add(piece[starts[-1] :])

    def _add(self, chars: bytes) -> None:
        if self.enc.needs and not self.marked and self.enc.needs in chars:
            self.marked = True
        chars = chars.translate(None, self.enc.strip) if self.enc.strip else chars
        if self.long:
            for view in self.views:
                view.add(chars)
            return
        self.run += chars
        if len(self.run) >= max(self.min_chars, RUN_PIECE) and (self.marked or not self.enc.needs):
            self.long = True
            for view in self.views:
                view.add(bytes(self.run))
            self.run.clear()

    def _end(self) -> None:
        if not self.long and len(self.run) >= self.min_chars and (self.marked or not self.enc.needs):
            for view in self.views:
                view.add(bytes(self.run))
            self.long = True
        if self.long:
            for view in self.views:
                view.end_run()
        self.run.clear()
        self.long = self.marked = False

    def finish(self) -> None:
        self._end()
        for view in self.views:
            view.finish()


class _Views:
    """An output's bytes as they are and decoded, fingerprinted under one tag."""

    def __init__(self, checker: Checker, tag: int) -> None:
        self.checker, self.tag = checker, tag
        self.prints = Winnower(checker.policy.verbatim.minRun)
        self.runs = [_Runs(checker, ENCODINGS[e], tag) for e in checker.policy.verbatim.encodings]

    def feed(self, piece: bytes) -> None:
        self.checker.output_bytes += len(piece)
        self.checker.out_prints.add(self.prints.feed(piece), self.tag)
        for runs in self.runs:
            runs.feed(piece)

    def finish(self) -> None:
        self.checker.out_prints.add(self.prints.finish(), self.tag)
        for runs in self.runs:
            runs.finish()


# ---- rows of tables ----


class _Rows:
    """The rows of a table (CSV or JSON lines) fed in pieces: each row's hash (its values,
    normalised and sorted, so that column order and format do not matter) into the input's or
    the output's set; the group sizes of an input, the group rule of an output."""

    def __init__(self, checker: Checker, tag: int | None, kind: str) -> None:
        self.checker, self.tag, self.kind = checker, tag, kind
        self.buffer = b""
        self.header: list[str] | None = None
        self.first = True
        self.delimiter: str | None = None
        self.stopped = kind not in TABLES
        self.hashes: list[int] = []
        self.group_columns: list[tuple[int, str]] = []  # (a CSV column's index, its rule's column)

    def feed(self, piece: bytes) -> None:
        if self.stopped:
            return
        data = self.buffer + piece
        cut = data.rfind(b"\n") if self.kind == "text/csv" else max(data.rfind(b"{"), data.rfind(b"[")) - 1
        if cut < 0:
            self.buffer = data
            if len(self.buffer) > MAX_LINE:
                self.stopped = True
            return
        self.buffer = data[cut + 1 :]
        self._lines(data[: cut + 1])

    def finish(self) -> None:
        if not self.stopped and self.buffer.strip():
            self._lines(self.buffer)
        self._flush()

    def _lines(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if self.kind == "text/csv":
            lines = text.splitlines()
            if self.delimiter is None:
                self.delimiter = delimiter([line for line in lines[:50] if line.strip()]) or ","
            try:
                rows = list(csv.reader(lines, delimiter=self.delimiter))
            except csv.Error:
                self.stopped = True
                return
            for row in rows:
                if self.first:
                    self.first = False
                    if _is_header(row):
                        self._header(row)
                        continue
                self._row([v for v in row], None)
        else:
            self._json(text)
        if len(self.hashes) >= 1 << 16:
            self._flush()

    def _json(self, text: str) -> None:
        """Every flat object or array (holding no other) in JSON text, at any depth, is a row."""
        for match in _FLAT.finditer(text):
            try:
                value = json.loads(match.group())
            except ValueError:
                continue
            if isinstance(value, dict):
                self._row([_scalar(v) for v in value.values()], value)
            elif isinstance(value, list):
                self._row([_scalar(v) for v in value], None)

    def _header(self, row: list[str]) -> None:
        names = [c.strip() for c in row]
        for column in self.checker.groups:
            if column in names:
                self.group_columns.append((names.index(column), column))

    def _row(self, values: list[str], obj: dict[str, object] | None) -> None:
        if obj is not None:
            columns = [(c, c) for c in self.checker.groups if c in obj]
            group_values = [(c, _norm(_scalar(obj[c]))) for _, c in columns]
        else:
            group_values = [(c, _norm(values[i])) for i, c in self.group_columns if i < len(values)]
        for column, value in group_values:
            self._group(column, value)
        normal = sorted(_norm(v) for v in values)
        if sum(1 for v in normal if v) < MIN_ROW_FIELDS:
            return
        key = hashlib.blake2b("\x1f".join(normal).encode(), digest_size=8).digest()
        self.hashes.append(int.from_bytes(key, "little"))

    def _group(self, column: str, value: str) -> None:
        c = self.checker
        counts = c.groups[column]
        if self.tag is None:  # an input: count
            if value in counts:
                counts[value] += 1
            elif len(counts) < MAX_GROUPS:
                counts[value] = 1
            else:
                c.too_many_groups.add(column)
            return
        k = next(r.k for r in c.policy.rows.minGroupSize if r.column == column)
        if column in c.too_many_groups:
            c.find("rows.minGroupSize", c.items[self.tag].label, f"{column}: too many groups to check", final=True)
        n = counts.get(value, 0)
        if 0 < n < k:
            c.find(
                "rows.minGroupSize",
                c.items[self.tag].label,
                f"a group of {column} with {n} input row(s), fewer than {k}",
            )
            self.stopped = True

    def _flush(self) -> None:
        if not self.hashes:
            return
        values = np.array(self.hashes, dtype=np.uint64)
        self.hashes = []
        if self.tag is None:
            self.checker.in_rows.add(values)
        else:
            self.checker.out_rows.add(values, self.tag)


TABLES = ("text/csv", "application/x-ndjson", "application/json")
_FLAT = re.compile(r"\{[^{}\[\]]*\}|\[[^{}\[\]]*\]")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _norm(value: str) -> str:
    value = value.strip()
    if _NUMBER.match(value):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return value
        if math.isfinite(number):
            return repr(number)
    return value


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) or abs(value) < 1 << 53 else str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _is_header(row: list[str]) -> bool:
    """A first row none of whose fields is a number."""
    return bool(row) and not any(_NUMBER.match(v.strip()) for v in row)


# ---- streams and archives ----


class _Unreadable(Exception):
    pass


# What reading a damaged archive (or its member) may raise.
BROKEN = (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, zlib.error, ValueError)


class _Budget(Exception):
    pass


@dataclass
class _Member:
    name: str
    stream: IO[bytes]


class _Counted(io.RawIOBase):
    """A stream whose bytes count against the unpacking budget (a decompression bomb ends at it)."""

    def __init__(self, inner: IO[bytes] | io.BufferedIOBase, budget: Callable[[int], None]) -> None:
        self.inner, self.budget = inner, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        self.budget(len(data))
        buffer[: len(data)] = data
        return len(data)


def _counted(inner: IO[bytes] | io.BufferedIOBase, budget: Callable[[int], None]) -> IO[bytes]:
    return io.BufferedReader(_Counted(inner, budget), PIECE)


def _members(kind: str, stream: IO[bytes], scratch: Path, budget: Callable[[int], None]) -> Iterator[_Member]:
    """An archive's members (a compressed stream: its one member, unnamed)."""
    try:
        if kind == "application/gzip":
            yield _Member("", _counted(gzip.GzipFile(fileobj=stream), budget))
        elif kind == "application/x-bzip2":
            yield _Member("", _counted(bz2.BZ2File(stream), budget))
        elif kind == "application/x-xz":
            yield _Member("", _counted(lzma.LZMAFile(stream), budget))  # noqa: SIM115 (closed with the member)
        elif kind == "application/x-tar":
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for entry in tar:
                    if entry.isfile():
                        member = tar.extractfile(entry)
                        if member is not None:
                            yield _Member(entry.name, _counted(member, budget))
                    else:
                        yield _Member(entry.name, io.BytesIO(b""))
        elif kind == "application/zip":
            if not stream.seekable():  # a zip inside another archive: a file to seek in
                spill = scratch / f"zip-{time.monotonic_ns()}"
                with spill.open("wb") as out:
                    shutil.copyfileobj(_counted(stream, budget), out, PIECE)
                stream = spill.open("rb")
                spill.unlink()
            with zipfile.ZipFile(stream) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        yield _Member(info.filename, io.BytesIO(b""))
                        continue
                    with archive.open(info) as member:
                        yield _Member(info.filename, _counted(member, budget))
    except BROKEN as exc:
        raise _Unreadable(type(exc).__name__) from None


def _peek(stream: IO[bytes]) -> bytes:
    """The stream's first HEAD bytes, left to be read again."""
    if stream.seekable():
        head = stream.read(HEAD)
        stream.seek(0)
        return head
    if isinstance(stream, io.BufferedReader):
        return stream.peek(HEAD)[:HEAD]
    raise TypeError("a stream that can neither seek nor peek")


def _pieces(stream: IO[bytes]) -> Iterator[bytes]:
    while piece := stream.read(PIECE):
        yield piece

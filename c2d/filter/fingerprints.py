"""Fingerprints of byte streams for finding verbatim copies: winnowing (Schleimer, Wilkerson and
Aiken, 2003) over k-gram hashes, vectorised with numpy, fed in pieces of any size.

Every k-gram (k consecutive bytes) gets a 64-bit hash; of every window of w consecutive k-gram
hashes the smallest is kept. Two streams that share a run of at least w + k - 1 bytes then share
at least one kept hash (the window that lies inside the run picks the same minimum in both), and
a shared kept hash is a shared k-gram (up to a 2^-64 collision). For a policy's minimum run N,
k = N - w + 1: a run of N bytes or more copied from an input is always found, a shared run
shorter than k never is. About 2 / (w + 1) of the positions are kept.

Runs that carry next to no information are not fingerprints: a k-gram that repeats itself at a
shift of 1 to PERIOD bytes (zeros, spaces, `0,0,0,`, a ruler of dashes) is never kept, so zero
padding or a blank line shared by an input and an honest output is not a leak. Such a run holds
at most PERIOD bytes of anything.

Hashes are polynomial modulo 2^64 (numpy's uint64 wraps), mixed at the end: with
Q_i = sum_{j<i} d_j B^j, the k-gram at i hashes to (Q_{i+k} - Q_i) B^-i, the same value wherever
the k-gram occurs (B odd is invertible). Each piece costs a few dozen passes over arrays of its
size; memory is about 60 bytes per byte of a piece, transiently (PIECE bytes at a time).
"""

from collections.abc import Iterable

import numpy as np

BASE = 0x100000001B3  # odd: invertible modulo 2^64
PIECE = 1 << 20  # bytes hashed at once
PERIOD = 8  # k-grams periodic with a period up to this are not kept
NONE = np.uint64(0xFFFFFFFFFFFFFFFF)  # never kept (a masked k-gram's hash)
MIN_RUN = 16  # the shortest minimum run a policy may ask for


def _inverse(b: int) -> int:
    """b^-1 modulo 2^64 (Newton's iteration; b odd)."""
    x = b
    for _ in range(7):
        x = (x * (2 - b * x)) % (1 << 64)
    assert (x * b) % (1 << 64) == 1
    return x


def _powers(base: int, n: int) -> np.ndarray:
    powers = np.full(n, base, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)


def parameters(min_run: int) -> tuple[int, int]:
    """k and w for a policy's minimum run: every run of min_run bytes is found; a quarter of it
    is the window (fewer hashes kept), the rest the k-gram (fewer short runs matched)."""
    if min_run < MIN_RUN:
        raise ValueError(f"the minimum run must be at least {MIN_RUN} bytes")
    w = max(2, min_run // 4)
    return min_run - w + 1, w


_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _tables(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _TABLES:
        _TABLES[size] = (_powers(BASE, size), _powers(_inverse(BASE), size))
    return _TABLES[size]


class Winnower:
    """The kept hashes of one stream fed in pieces: the same stream gives the same hashes
    however it is cut. `feed` returns the hashes of the windows it could settle, `finish` those
    of the stream's last windows (a k-gram's mask depends on the PERIOD k-grams after it);
    a window's minimum that repeats over consecutive windows is given once."""

    def __init__(self, min_run: int) -> None:
        self.k, self.w = parameters(min_run)
        # The bytes kept from one piece to the next: enough for the k-grams and windows not
        # settled yet, and the PERIOD k-grams before them that their masks compare with.
        self._keep = self.k + self.w + 2 * PERIOD
        self._tail = b""
        self._offset = 0  # the stream's position of the tail's first byte
        self._done = 0  # the next window to settle (windows are numbered by their first k-gram)
        self._last = NONE  # the minimum of the last window settled
        self._up, self._down = _tables(PIECE + self._keep)
        self._buf = _Buffers(PIECE + self._keep)
        self.bytes = 0

    def feed(self, piece: bytes | bytearray | memoryview) -> np.ndarray:
        view = memoryview(piece).cast("B")
        found = [self._settle(view[start : start + PIECE], False) for start in range(0, len(view), PIECE)]
        return _joined(found)

    def finish(self) -> np.ndarray:
        return self._settle(memoryview(b""), True)

    def _settle(self, piece: memoryview, last: bool) -> np.ndarray:
        self.bytes += len(piece)
        data = self._tail + piece.tobytes() if self._tail else piece.tobytes()
        offset = self._offset
        if len(data) > self._keep:
            self._tail = data[-self._keep :]
            self._offset = offset + len(data) - self._keep
        else:
            self._tail = data
        k, w = self.k, self.w
        n = len(data) - k + 1  # k-grams in data: the stream's offset .. offset + n
        if n < 1:
            return _EMPTY
        settled = offset + n if last else offset + n - PERIOD  # k-grams whose masks are final
        first, end = self._done, settled - w + 1  # the windows to settle now
        if end <= first:
            return _EMPTY
        self._done = end
        h = _hashes(data, k, self._up, self._down, self._buf)
        lo, hi = first - offset, settled - offset
        minima = _window_minima(h[lo:hi], w, self._buf)
        change = np.empty(len(minima), dtype=bool)
        change[0] = minima[0] != self._last
        np.not_equal(minima[1:], minima[:-1], out=change[1:])
        self._last = minima[-1]
        kept: np.ndarray = minima[change]
        return kept[kept != NONE]  # type: ignore[no-any-return]


_EMPTY = np.empty(0, dtype=np.uint64)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _EMPTY
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _Buffers:
    """A winnower's working arrays, made once: fresh arrays per piece cost their page faults."""

    def __init__(self, size: int) -> None:
        self.q = np.empty(size + 1, dtype=np.uint64)
        self.masked = np.empty(size, dtype=bool)
        self.same = np.empty(size, dtype=bool)
        self.a = np.empty(size, dtype=np.uint64)
        self.b = np.empty(size, dtype=np.uint64)


def _hashes(data: bytes, k: int, up: np.ndarray, down: np.ndarray, buf: _Buffers) -> np.ndarray:
    """The hash of every k-gram of data, NONE for the periodic ones (a view of buf.q)."""
    n = len(data) - k + 1
    d = np.frombuffer(data, dtype=np.uint8)
    q = buf.q[: len(d) + 1]
    q[0] = 0
    np.multiply(d, up[: len(d)], out=q[1:])
    np.cumsum(q[1:], out=q[1:])
    h = q[k : k + n]
    h -= q[:n]  # in place: q[k:] is not read again
    h *= down[:n]
    h ^= h >> np.uint64(31)  # the high bits, which decide the minimum, into the low ones
    h *= np.uint64(0xBF58476D1CE4E5B9)
    # Periodic: equal to the k-gram p bytes on (then a run of k + p bytes has period p).
    masked = buf.masked[:n]
    masked[:] = False
    for p in range(1, min(PERIOD, n - 1) + 1):
        same = buf.same[: n - p]
        np.equal(h[p:], h[:-p], out=same)
        masked[p:] |= same
        masked[:-p] |= same
    h[masked] = NONE
    return h


def _window_minima(values: np.ndarray, w: int, buf: _Buffers) -> np.ndarray:
    """The minimum of every window of w consecutive values: minima of windows of 1, 2, 4, ...
    values in turn, then of two such windows that overlap to make w (log2 w passes)."""
    n = len(values)
    if n < w:
        return _EMPTY
    span, m, spare = 1, values, (buf.a, buf.b)
    while 2 * span <= w:
        out = spare[0][: len(m) - span]
        np.minimum(m[:-span], m[span:], out=out)  # windows of 2 * span
        m, spare, span = out, (spare[1], spare[0]), span * 2
    windows = n - w + 1
    if span == w:
        return m[:windows].copy()
    minima: np.ndarray = np.minimum(m[:windows], m[w - span : w - span + windows])
    return minima


def fingerprints(pieces: Iterable[bytes], min_run: int) -> np.ndarray:
    """Every kept hash of a whole stream, sorted, each once."""
    winnower = Winnower(min_run)
    parts = [winnower.feed(piece) for piece in pieces]
    parts.append(winnower.finish())
    kept: np.ndarray = np.unique(_joined(parts))
    return kept

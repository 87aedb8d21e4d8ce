"""Sets of 64-bit hashes too large for memory: kept in memory up to MEMORY values, beyond that
spilled to BUCKETS files by their low bits, and joined bucket by bucket — memory bounded by
MEMORY and a bucket, time linear in the values (a sort per bucket)."""

import contextlib
import os
from pathlib import Path

import numpy as np

MEMORY = 2 << 20  # values held before a spill, per set (16 MB of hashes, 8 MB of tags)
BUCKETS = 256
LOW = np.uint64(BUCKETS - 1)


def _bucket(values: np.ndarray) -> np.ndarray:
    """A value's bucket: its low bits. Not its top bits: fingerprints are minima of windows, so
    their top bits crowd the first buckets (a sixteenth of them all in bucket 0 for w = 16),
    and one bucket's join would hold that much."""
    return (values & LOW).astype(np.uint8)


class HashSet:
    """Values added in batches, each batch with a tag (which output it came from)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name
        self._values: list[np.ndarray] = []
        self._tags: list[np.ndarray] = []
        self._held = 0
        self.spilled = False
        self.count = 0

    def add(self, values: np.ndarray, tag: int = 0) -> None:
        if not len(values):
            return
        self._values.append(values)
        self._tags.append(np.full(len(values), tag, dtype=np.uint32))
        self._held += len(values)
        self.count += len(values)
        if self._held >= MEMORY:
            self._spill()

    def _held_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._values:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint32)
        return np.concatenate(self._values), np.concatenate(self._tags)

    def _spill(self) -> None:
        values, tags = self._held_arrays()
        self._values, self._tags, self._held = [], [], 0
        buckets = _bucket(values)
        order = np.argsort(buckets, kind="stable")
        values, tags, buckets = values[order], tags[order], buckets[order]
        bounds = np.searchsorted(buckets, np.arange(BUCKETS + 1))
        self.folder.mkdir(parents=True, exist_ok=True)
        for b in range(BUCKETS):
            lo, hi = bounds[b], bounds[b + 1]
            if lo == hi:
                continue
            with self._path(b, "v").open("ab") as out:
                out.write(values[lo:hi].tobytes())
            with self._path(b, "t").open("ab") as out:
                out.write(tags[lo:hi].tobytes())
        self.spilled = True

    def _path(self, bucket: int, kind: str) -> Path:
        return self.folder / f"{self.name}.{bucket:03d}.{kind}"

    def settle(self) -> None:
        """Before a join bucket by bucket: a set that spilled spills what it still holds, so that
        each bucket is read from its files alone (not picked out of memory once per bucket)."""
        if self.spilled and self._held:
            self._spill()

    def part(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The values (and their tags) whose buckets are in [lo, hi)."""
        values, tags = self._held_arrays()
        if lo != 0 or hi != BUCKETS:
            bucket = _bucket(values)
            keep = (bucket >= lo) & (bucket < hi)
            values, tags = values[keep], tags[keep]
        if self.spilled and hi == lo + 1:
            v, t = self._path(lo, "v"), self._path(lo, "t")
            if v.exists():
                values = np.concatenate([np.fromfile(v, dtype=np.uint64), values])
                tags = np.concatenate([np.fromfile(t, dtype=np.uint32), tags])
        return values, tags

    def remove(self) -> None:
        for b in range(BUCKETS):
            for kind in "vt":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(b, kind))


def common(inputs: HashSet, outputs: HashSet, most: int = 1 << 16) -> dict[int, int]:
    """Of every output tag that shares a value with the inputs: how many values it shares
    (counting stops at `most` matches in all)."""
    found: dict[int, int] = {}
    total = 0
    spilled = inputs.spilled or outputs.spilled
    if spilled:
        inputs.settle()
        outputs.settle()
    ranges = [(b, b + 1) for b in range(BUCKETS)] if spilled else [(0, BUCKETS)]
    for lo, hi in ranges:
        out_values, out_tags = outputs.part(lo, hi)
        if not len(out_values):
            continue
        in_values, _ = inputs.part(lo, hi)
        if not len(in_values):
            continue
        hit = _members(out_values, np.sort(in_values))
        for tag, count in zip(*np.unique(out_tags[hit], return_counts=True), strict=True):
            found[int(tag)] = found.get(int(tag), 0) + int(count)
            total += int(count)
        if total >= most:
            break
    return found


def _members(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of `values` are in `sorted_set`: a binary search each (a sort and searches stay in
    cache where numpy's hash-based unique, at a bucket's size, does not)."""
    at = np.searchsorted(sorted_set, values)
    at[at == len(sorted_set)] = 0
    found: np.ndarray = sorted_set[at] == values
    return found

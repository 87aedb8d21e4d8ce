"""Stage logs, bounded on every executor."""

from pathlib import Path
from typing import Any


class LogWriter:
    """A stage's log on disk, at most `limit` bytes: the rest is read and counted, not kept, and
    the log ends with a line that says how much was cut. Each write reaches the file at once
    (a running job's log is followed from it)."""

    def __init__(self, path: Path, limit: int, counted: bool = True) -> None:
        self.path = path
        self.limit = limit
        self.counted = counted  # False: the source stopped at limit + 1, the rest is unknown
        self.kept = path.stat().st_size if path.exists() else 0
        self.dropped = 0
        self.file = path.open("ab", buffering=0)

    def write(self, chunk: bytes) -> None:
        room = max(0, self.limit - self.kept)
        if room:
            self.file.write(chunk[:room])
            self.kept += min(room, len(chunk))
        self.dropped += max(0, len(chunk) - room)

    def close(self) -> int:
        """Closes the log; the bytes that were cut."""
        if self.dropped:
            rest = f"{self.dropped} more bytes were" if self.counted else "the rest was"
            self.file.write(f"\n[c2d] this log was cut at {self.limit} bytes: {rest} not kept\n".encode())
        self.file.close()
        return self.dropped

    def copy(self, stream: Any) -> int:
        """Copies a stream to the log until it ends (in bounded chunks), then closes it."""
        read = getattr(stream, "read1", stream.read)  # read1: what is there, without waiting for a full chunk
        try:
            while chunk := read(1 << 16):
                self.write(chunk)
        finally:
            dropped = self.close()
        return dropped

"""Stage logs, bounded on every executor."""

import threading
from collections.abc import Callable
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


class FollowedLog:
    """A stage's log copied in a thread while the stage runs, so that a followed job's log
    shows each line as it comes: `copy()` copies the stage's followed output into its log
    (LogWriter) and returns the bytes it cut. `finish()` waits for the copy to end once the
    stage has; `stop()` (called if it does not end) breaks the stream off."""

    def __init__(self, copy: Callable[[], int], stop: Callable[[], None]) -> None:
        self.cut = 0
        self.error: BaseException | None = None
        self._stop = stop
        self._thread = threading.Thread(target=self._run, args=(copy,), daemon=True, name="followed-log")
        self._thread.start()

    def _run(self, copy: Callable[[], int]) -> None:
        try:
            self.cut = copy()
        except Exception as exc:  # the stream broke off: the caller copies the log again
            self.error = exc

    def finish(self, timeout: float) -> bool:
        """Whether the whole log was copied (the stream ended by itself within `timeout`)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop()
            self._thread.join(10)
            return False
        return self.error is None

"""The provider, and nothing else, for a configure stage that has no network.

Configure fetches a job's inputs from the provider. Rather than the host's network (every
loopback service of the machine, the cloud's metadata address), the local and docker executors
give it a Unix socket in a directory of its own, mounted at /run/c2d in its sandbox or container:
each connection to that socket is relayed to the provider's host and port, and only there. The
bytes are relayed as they are, so an https provider URL keeps TLS end to end.

    with ProviderRelay(folder, "http://127.0.0.1:8030"):
        ...  # the stage connects to folder/provider.sock

A relay accepts at most MAX_CONNECTIONS at once and closes a connection idle for IDLE_SECONDS.
"""

import contextlib
import logging
import os
import selectors
import shutil
import socket
import stat
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

log = logging.getLogger("c2d.operator.executors.relay")

SOCKET_NAME = "provider.sock"
MOUNT = "/run/c2d"  # where stages see the folder
MAX_CONNECTIONS = 16
IDLE_SECONDS = 300.0
CHUNK = 64 << 10


def relay_folder(job_id: str) -> Path:
    """The folder of a job's relay socket: short (a socket's path is limited to 107 bytes),
    under a folder only this engine's user may enter."""
    root = Path(tempfile.gettempdir()) / f"c2d-relay-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise RelayUnavailable(f"{root} is not a private folder of this user")
    return root / job_id


class RelayUnavailable(Exception):
    """The relay's folder cannot be trusted."""


def provider_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("the provider URL has no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


class ProviderRelay:
    def __init__(self, folder: Path, provider_url: str, owner: int | None = None) -> None:
        """`folder`: the stage's own folder for the socket (made here, readable by `owner`, the
        stage's user, when the engine runs as root)."""
        self.folder = folder
        self.path = folder / SOCKET_NAME
        self.target = provider_address(provider_url)
        self.owner = owner
        self._server: socket.socket | None = None
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ProviderRelay":
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # a relay of an earlier engine run of this stage
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        if self.owner is not None:
            os.chown(self.folder, self.owner, self.owner)
            os.chown(self.path, self.owner, self.owner)
        server.listen(MAX_CONNECTIONS)
        server.settimeout(0.5)
        self._server = server
        self._thread = threading.Thread(target=self._accept, name="provider-relay", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes a waiting accept() at once
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)  # the socket and its folder

    def __enter__(self) -> "ProviderRelay":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()  # too many at once: the stage retries or fails with its own reason
                continue
            threading.Thread(target=self._serve, args=(conn,), name="provider-relay-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError as exc:
                log.warning("the provider does not answer the relay: %s", type(exc).__name__)
                return
            with upstream:
                _pump(conn, upstream, self._closed)
        finally:
            conn.close()
            self._slots.release()


def _pump(a: socket.socket, b: socket.socket, closed: threading.Event) -> None:
    """Both directions until either side ends, the relay closes, or nothing moved for IDLE_SECONDS."""
    peers = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        for sock in peers:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        idle = 0.0
        while not closed.is_set() and idle < IDLE_SECONDS:
            events = selector.select(timeout=1.0)
            if not events:
                idle += 1.0
                continue
            idle = 0.0
            for key, _ in events:
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = source.recv(CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    peers[source].settimeout(60)  # the other side may be slow to take it
                    peers[source].sendall(data)
                    peers[source].setblocking(False)
                except OSError:
                    return

"""The configure stage: fetch every input and the algorithm through the provider, verify the
checksums their DDOs declare, and lay out /data (see c2d.job.layout).

    python -m c2d.pods.configure JOB_DIR

It reaches the provider at C2D_PROVIDER_URL, through the Unix socket C2D_PROVIDER_SOCKET when
the executor gives it one instead of a network (c2d.operator.executors.relay).

The provider's input route only answers requests signed by an operator it trusts
(C2D_OPERATOR_KEY) for the inputs of that job, while it is configuring (it forgets them once
it sees the job past configuring). Configure does not have them forgotten at its end: a
configure stage run again, after its engine died before recording the job provisioned, fetches
them again. A provider that does not answer, or answers that it is unavailable for now (429,
502, 503, 504: its chain or the operator service down a moment), is asked again, with a growing
pause, for up to RETRY_SECONDS per file, each try logged. Exit codes: c2d.job.ConfigureExit (a
dataset could not be provisioned: status 31; the algorithm could not: 32); the reason is the
last line of configure.log.
"""

import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from c2d.job import ConfigureExit, JobSpec, RawAlgorithmSpec, layout
from c2d.signing import NonceClock, address_of, signed_headers

DATA_FAILED, ALGORITHM_FAILED = ConfigureExit.DATA_FAILED, ConfigureExit.ALGORITHM_FAILED
INPUT_PATH = "/api/services/computeInput"
TIMEOUT = 60.0  # seconds without a byte from the provider
CHUNK = 1 << 20
ERROR_BYTES = 4096  # of an error's body
RETRY_SECONDS = 120.0  # how long one file is asked for again while the provider is unavailable
TRANSIENT = frozenset({429, 502, 503, 504})


class ProvisioningFailed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Unreachable(Exception):
    """The provider did not answer, or broke off (the name of what went wrong)."""


class _Unavailable(Exception):
    """A try that may succeed later: why it failed."""


NETWORK_ERRORS = (OSError, http.client.HTTPException)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the engine's relay socket (a stage without network)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("provider", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Response:
    """A provider's answer, its body read on demand (streamed for a file)."""

    def __init__(self, connection: http.client.HTTPConnection, raw: http.client.HTTPResponse) -> None:
        self._connection = connection
        self._raw = raw
        self.status_code = raw.status
        self._body: bytes | None = None

    def _read(self, size: int) -> bytes:
        try:
            return self._raw.read(size)
        except NETWORK_ERRORS as exc:
            raise Unreachable(type(exc).__name__) from None

    def iter_bytes(self, size: int = CHUNK) -> Any:
        """The body; a body that ends before its Content-Length is a broken answer (read in
        pieces, http.client gives the short body without a word)."""
        expected = self._raw.getheader("Content-Length")
        received = 0
        while chunk := self._read(size):
            received += len(chunk)
            yield chunk
        if expected is not None and expected.isdigit() and received != int(expected):
            raise Unreachable("IncompleteRead")

    def read(self) -> bytes:
        if self._body is None:
            self._body = self._read(ERROR_BYTES)
        return self._body

    def json(self) -> Any:
        return json.loads(self.read())

    def close(self) -> None:
        self._connection.close()


class InputFetcher:
    """The provider's input route, signed with the operator's key. Plain http.client: the stage
    starts for every job, and a lighter client starts it sooner."""

    def __init__(
        self,
        provider_url: str,
        key: str,
        job_id: str,
        socket_path: str | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        """`socket_path`: the engine's relay to the provider (a stage without network), if any;
        `retry_seconds`: how long one file is asked for again while the provider is unavailable."""
        self.retry_seconds = retry_seconds
        self.key = key
        self.address = address_of(key)
        self.job_id = job_id
        self.nonces = NonceClock()
        url = urlsplit(provider_url)
        self.scheme, self.host, self.port = url.scheme, url.hostname or "localhost", url.port
        self.prefix = url.path.rstrip("/")
        self.socket_path = socket_path

    def _connection(self) -> http.client.HTTPConnection:
        if self.socket_path:
            return _UnixConnection(self.socket_path, TIMEOUT)
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT)
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def _send(self, did: str, index: int) -> Response:
        return self._signed("GET", {"jobId": self.job_id, "did": did, "index": index})

    def _signed(self, method: str, params: dict[str, Any]) -> Response:
        """The signed request (its nonce taken once, in whatever order stages' requests arrive)."""
        path = f"{self.prefix}{INPUT_PATH}?{urlencode(params)}"
        headers = signed_headers(self.key, self.address, method, path, b"", self.nonces.next())
        connection = self._connection()
        try:
            connection.request(method, path, headers=headers)
            return Response(connection, connection.getresponse())
        except NETWORK_ERRORS as exc:
            connection.close()
            raise Unreachable(type(exc).__name__) from None

    def fetch(self, did: str, index: int, target: Path, checksum: str | None, code: int) -> None:
        """Streams one file to `target`, checking its sha256 against `checksum` when declared;
        asks again while the provider is unavailable (see the module's documentation)."""
        deadline, pause = time.monotonic() + self.retry_seconds, 0.2
        while True:
            try:
                digest = self._fetch_once(did, index, target, code)
                break
            except _Unavailable as exc:
                if time.monotonic() + pause > deadline:
                    raise ProvisioningFailed(
                        code, f"{did} file {index}: provider {exc} (asked for {self.retry_seconds:.0f} s)"
                    ) from None
                print(f"{did} file {index}: provider {exc}; asking again in {pause:.1f} s", file=sys.stderr)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
        if checksum and digest != checksum:
            raise ProvisioningFailed(
                code, f"{did} file {index}: checksum mismatch (the file changed since publication)"
            )

    def _fetch_once(self, did: str, index: int, target: Path, code: int) -> str:
        """One try: the file's sha256, once it is whole in `target`."""
        digest = hashlib.sha256()
        try:
            response = self._send(did, index)
            try:
                if response.status_code in TRANSIENT:
                    raise _Unavailable(f"answered {_error(response)}")
                if response.status_code != 200:
                    raise ProvisioningFailed(code, f"{did} file {index}: provider answered {_error(response)}")
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        digest.update(chunk)
            finally:
                response.close()
        except Unreachable as exc:
            raise _Unavailable(f"unreachable ({exc})") from None
        return digest.hexdigest()

    def forget(self) -> None:
        """Tells the provider that this job's inputs are no longer needed: it answers no more for
        them (an operator's tool; configure itself does not, see above). Best effort: the
        provider also refuses them once the job is past configuring."""
        try:
            response = self._signed("DELETE", {"jobId": self.job_id})
            response.read()
            response.close()
        except Unreachable:
            pass


def _error(response: Response) -> str:
    try:
        return f"{response.status_code} {response.json()['error']}"
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)


def _empty(folder: Path) -> None:
    """The folder, emptied but kept: an algorithm started ahead has it mounted already (a
    folder made anew would not be the one it sees)."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def provision(job_dir: Path, spec: JobSpec, fetcher: InputFetcher) -> None:
    data = layout.data(job_dir)
    for name in ("inputs", "ddos", "transformations"):  # idempotent: a restarted configure starts clean
        _empty(data / name)
    for name in layout.DATA_DIRS:
        (data / name).mkdir(parents=True, exist_ok=True)
    for dataset in spec.datasets:
        folder = data / "inputs" / dataset.did
        folder.mkdir(parents=True, exist_ok=True)
        (data / "ddos" / dataset.did).write_text(json.dumps(dataset.ddo))
        for index in dataset.files:
            fetcher.fetch(dataset.did, index, folder / str(index), dataset.checksum(index), DATA_FAILED)
        if dataset.userData:
            (data / "inputs" / "userdata").mkdir(exist_ok=True)
            (data / "inputs" / "userdata" / f"{dataset.did}.json").write_text(json.dumps(dataset.userData))
    filters = job_dir / layout.FILTERS
    if filters.is_dir() and not filters.is_symlink():  # idempotent too
        shutil.rmtree(filters)
    elif filters.is_symlink() or filters.exists():
        filters.unlink()
    for index, publisher_filter in enumerate(spec.filters):
        folder = layout.publisher_filter(job_dir, index)
        (folder / "transformations").mkdir(parents=True)
        (folder / "verdict").mkdir()
        (file_index,) = publisher_filter.files
        checksum = publisher_filter.checksums.get(str(file_index))
        target = folder / "transformations" / "algorithm"
        fetcher.fetch(publisher_filter.did, file_index, target, checksum, DATA_FAILED)
    algorithm = spec.algorithm
    if algorithm.customData:  # Ocean's path
        (data / "inputs" / "algoCustomData.json").write_text(json.dumps(algorithm.customData))
    target = data / layout.ALGORITHM
    if isinstance(algorithm, RawAlgorithmSpec):
        target.write_text(algorithm.rawcode)
    else:
        (data / "ddos" / algorithm.did).write_text(json.dumps(algorithm.ddo))
        if len(algorithm.files) != 1:
            raise ProvisioningFailed(ALGORITHM_FAILED, "an algorithm must have exactly one file")
        (index,) = algorithm.files
        fetcher.fetch(algorithm.did, index, target, algorithm.checksum(index), ALGORITHM_FAILED)


def _operator_key() -> str:
    """The operator's key: a file (C2D_OPERATOR_KEY_FILE, a Secret's volume on Kubernetes) or the
    environment (the docker and local executors, from a file only root reads)."""
    path = os.environ.get("C2D_OPERATOR_KEY_FILE")
    return Path(path).read_text().strip() if path else os.environ["C2D_OPERATOR_KEY"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    if layout.signalled(job_dir, layout.CONFIGURED) is not None:
        # Provisioned already, and run again by its Job (a pod deleted after its signal, on
        # Kubernetes): the algorithm may be reading the inputs; nothing is fetched or removed.
        # The engine clears the signals before it configures a job again itself.
        print("provisioned already: this configure was run again, and does nothing", flush=True)
        return 0
    try:
        spec = layout.read_spec(job_dir)
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        print("the job directory holds no valid job.json", flush=True)
        return DATA_FAILED
    fetcher = InputFetcher(
        os.environ["C2D_PROVIDER_URL"],
        _operator_key(),
        spec.jobId,
        os.environ.get("C2D_PROVIDER_SOCKET"),
    )
    try:
        provision(job_dir, spec, fetcher)
    except ProvisioningFailed as exc:
        print(exc.reason, flush=True)
        return exc.code
    print("provisioned", flush=True)
    layout.signal(job_dir, layout.CONFIGURED)  # a waiting algorithm starts now
    return 0


if __name__ == "__main__":
    sys.exit(main())

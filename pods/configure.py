"""The configure stage: fetch every input and the algorithm through the provider, verify the
checksums their DDOs declare, and lay out /data (see c2d.job.layout).

    python -m c2d.pods.configure JOB_DIR

It reaches the provider at C2D_PROVIDER_URL, through the Unix socket C2D_PROVIDER_SOCKET when
the executor gives it one instead of a network (c2d.operator.executors.relay).

The provider's input route only answers requests signed by an operator it trusts
(C2D_OPERATOR_KEY) for the inputs of that job, while it is configuring; once everything is
fetched, configure tells the provider to forget them. Exit codes: c2d.job.ConfigureExit (a
dataset could not be provisioned: status 31; the algorithm could not: 32); the reason is the
last line of configure.log.
"""

import contextlib
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx

from c2d.job import ConfigureExit, JobSpec, RawAlgorithmSpec, layout
from c2d.signing import NonceClock, address_of, signed_headers

DATA_FAILED, ALGORITHM_FAILED = ConfigureExit.DATA_FAILED, ConfigureExit.ALGORITHM_FAILED


class ProvisioningFailed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class InputFetcher:
    def __init__(self, provider_url: str, key: str, job_id: str, socket: str | None = None) -> None:
        """`socket`: the engine's relay to the provider (a stage without network), if any."""
        self.key = key
        self.address = address_of(key)
        self.job_id = job_id
        self.nonces = NonceClock()
        transport = httpx.HTTPTransport(uds=socket) if socket else None
        self.http = httpx.Client(base_url=provider_url, timeout=httpx.Timeout(60.0, connect=10.0), transport=transport)

    def _send(self, did: str, index: int) -> httpx.Response:
        return self._signed("GET", {"jobId": self.job_id, "did": did, "index": index})

    def _signed(self, method: str, params: dict[str, Any]) -> httpx.Response:
        """The signed request; signed again if another stage's request overtook its nonce."""
        for attempt in range(3):
            request = self.http.build_request(method, "/api/services/computeInput", params=params)
            path = request.url.raw_path.decode()
            request.headers.update(signed_headers(self.key, self.address, method, path, b"", self.nonces.next()))
            response = self.http.send(request, stream=True)
            if response.status_code == 401 and attempt < 2 and b"nonce_reused" in response.read():
                response.close()
                continue
            return response
        raise AssertionError("unreachable")

    def fetch(self, did: str, index: int, target: Path, checksum: str | None, code: int) -> None:
        """Streams one file to `target`, checking its sha256 against `checksum` when declared."""
        digest = hashlib.sha256()
        try:
            response = self._send(did, index)
            try:
                if response.status_code != 200:
                    response.read()
                    raise ProvisioningFailed(code, f"{did} file {index}: provider answered {_error(response)}")
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise ProvisioningFailed(code, f"{did} file {index}: provider unreachable ({type(exc).__name__})") from None
        if checksum and digest.hexdigest() != checksum:
            raise ProvisioningFailed(
                code, f"{did} file {index}: checksum mismatch (the file changed since publication)"
            )

    def forget(self) -> None:
        """Tells the provider that this job's inputs are fetched: it answers no more for them.
        Best effort: the provider also refuses them once the job is past configuring."""
        with contextlib.suppress(httpx.HTTPError):
            self._signed("DELETE", {"jobId": self.job_id}).close()


def _error(response: httpx.Response) -> str:
    try:
        return f"{response.status_code} {response.json()['error']}"
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)


def provision(job_dir: Path, spec: JobSpec, fetcher: InputFetcher) -> None:
    data = layout.data(job_dir)
    for name in ("inputs", "ddos", "transformations"):  # idempotent: a restarted configure starts clean
        shutil.rmtree(data / name, ignore_errors=True)
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    try:
        spec = layout.read_spec(job_dir)
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        print("the job directory holds no valid job.json", flush=True)
        return DATA_FAILED
    fetcher = InputFetcher(
        os.environ["C2D_PROVIDER_URL"],
        os.environ["C2D_OPERATOR_KEY"],
        spec.jobId,
        os.environ.get("C2D_PROVIDER_SOCKET"),
    )
    try:
        provision(job_dir, spec, fetcher)
        fetcher.forget()
    except ProvisioningFailed as exc:
        print(exc.reason, flush=True)
        return exc.code
    print("provisioned", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

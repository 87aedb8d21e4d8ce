"""A Python client of the provider's HTTP API: the consumer's and publisher's side of c2d.

Every signed call signs exactly that request (EIP-712, c2d.signing) for this provider, with a
fresh nonce (see ProviderClient.next_nonce) and an expiry SIGNATURE_SECONDS ahead."""

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from c2d.signing import NonceClock, SignedRequest, params_hash, sign_request

SIGNATURE_SECONDS = 300
# How long c2d's own clients keep an idle connection to a c2d service: well under the services'
# keep-alive (c2d.serving.ConnectionLimits.keep_alive, 5 s), so a client never sends on a
# connection the service is closing as idle (under load, that race answered "did not answer").
CLIENT_KEEPALIVE = 2.0


def client_limits() -> httpx.Limits:
    """The connection pool limits of an httpx client of a c2d service."""
    return httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=CLIENT_KEEPALIVE)


class ProviderRequestError(Exception):
    """The provider refused a request: `status`, its stable `code` and `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        data = response.json()
        code, message = str(data["error"]), str(data["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200]
    raise ProviderRequestError(response.status_code, code, message)


class ProviderMismatch(ProviderRequestError):
    """The provider at the URL is not the one this client was told to sign for."""


class ProviderClient:
    def __init__(self, url: str, private_key: str, timeout: float = 60.0, provider_address: str = "") -> None:
        """`provider_address`: the provider this client signs for, known beforehand (the embedded
        stack's, or pinned when a deployment was first connected); without it, the address the
        provider at `url` gives. Signatures name it: one made for a provider is no use at another,
        but only a pinned address keeps a provider from claiming another's."""
        self.provider_address = provider_address
        self.url = url.rstrip("/")
        self._key = private_key
        self.address = Account.from_key(private_key).address
        self.http = httpx.Client(base_url=self.url, timeout=timeout, limits=client_limits())
        self._clock = NonceClock()
        # Nonces must reach the provider in increasing order: one signed request at a time.
        self._lock = threading.RLock()
        self._floor: int | None = None
        self._domain: tuple[int, str] | None = None  # the provider's chain id and address

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        _raise_for(response)
        return response.json()

    def _send(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        response = self.http.request(method, path, json=body, params=params)
        _raise_for(response)
        return response.json()

    def info(self) -> dict[str, Any]:
        return self._get("/")  # type: ignore[no-any-return]

    def nonce(self, address: str | None = None) -> int:
        return int(self._get("/api/services/nonce", userAddress=address or self.address)["nonce"])

    def next_nonce(self) -> int:
        """A nonce larger than any this address used: nanoseconds since the epoch (strictly
        increasing here), or more if the provider recorded a larger one before."""
        with self._lock:
            if self._floor is None:
                self._floor = self.nonce()
            self._floor = max(self._clock.next(), self._floor + 1)
            return self._floor

    def signed(
        self,
        action: str,
        params: dict[str, Any],
        document_id: str = "",
        job_id: str = "",
        index: int = 0,
        query: bool = False,
        address_field: str = "consumerAddress",
    ) -> dict[str, Any]:
        """`params` with this address, a fresh nonce, an expiry and the EIP-712 signature of
        the request (query parameters are signed as the strings they are sent as)."""
        if self._domain is None:
            info = self.info()
            claimed = str(info["providerAddress"])
            if self.provider_address and claimed.lower() != self.provider_address.lower():
                raise ProviderMismatch(
                    0, "provider_mismatch", f"the provider at {self.url} is {claimed}, not {self.provider_address}"
                )
            self._domain = int(info["chainId"]), self.provider_address or claimed
        nonce = self.next_nonce()
        out: dict[str, Any] = {
            **params,
            address_field: self.address,
            "nonce": nonce,
            "expiry": int(time.time()) + SIGNATURE_SECONDS,
        }
        if query:  # as httpx sends them
            out = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in out.items()}
        request = SignedRequest(
            action, self.address, nonce, int(out["expiry"]), params_hash(out), document_id, job_id, index
        )
        out["signature"] = sign_request(self._key, *self._domain, request)
        return out

    # ---- publisher ----

    def encrypt(self, did: str, files: list[dict[str, Any]]) -> str:
        with self._lock:
            body = self.signed(
                "encrypt", {"documentId": did, "document": files}, document_id=did, address_field="publisherAddress"
            )
            return str(self._send("POST", "/api/services/encrypt", body)["encryptedDocument"])

    def fileinfo(self, did: str, service_id: int | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"did": did}
        if service_id is not None:
            body["serviceId"] = service_id
        return self._send("POST", "/api/services/fileinfo", body)  # type: ignore[no-any-return]

    def compute_record(self, job_id: str) -> dict[str, Any]:
        """A job on this publisher's data: transitions, policy, findings, approvals."""
        with self._lock:
            params = self.signed(
                "computeRecord", {"jobId": job_id}, job_id=job_id, query=True, address_field="publisherAddress"
            )
            return self._get("/api/services/computeRecord", **params)  # type: ignore[no-any-return]

    def compute_approval(self, job_id: str, decision: str, reason: str = "") -> dict[str, Any]:
        """Approves ("approve") or rejects ("reject") the results of a job held for approval."""
        with self._lock:
            body = self.signed(
                "computeApproval",
                {"jobId": job_id, "decision": decision, "reason": reason},
                job_id=job_id,
                address_field="publisherAddress",
            )
            return self._send("POST", "/api/services/computeApproval", body)  # type: ignore[no-any-return]

    # ---- consumer ----

    def initialize(self, did: str, service_id: int) -> dict[str, Any]:
        return self._get(  # type: ignore[no-any-return]
            "/api/services/initialize", documentId=did, serviceId=service_id, consumerAddress=self.address
        )

    def download_params(self, did: str, service_id: int, file_index: int, tx_id: str) -> dict[str, Any]:
        params = {"documentId": did, "serviceId": service_id, "fileIndex": file_index, "transferTxId": tx_id}
        return self.signed("download", params, document_id=did, index=file_index, query=True)

    @contextmanager
    def download_stream(
        self, did: str, service_id: int, file_index: int, tx_id: str, byte_range: str | None = None
    ) -> Iterator[httpx.Response]:
        headers = {"range": byte_range} if byte_range else {}
        with self._lock:  # until the provider has checked the nonce (the answer's status line)
            params = self.download_params(did, service_id, file_index, tx_id)
            request = self.http.build_request("GET", "/api/services/download", params=params, headers=headers)
            response = self.http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            yield response
        finally:
            response.close()

    def download(self, did: str, service_id: int, file_index: int, tx_id: str, byte_range: str | None = None) -> bytes:
        with self.download_stream(did, service_id, file_index, tx_id, byte_range) as response:
            return response.read()

    def download_to(self, path: Path, did: str, service_id: int, file_index: int, tx_id: str) -> str:
        """Streams a file to `path`; returns its sha256."""
        digest = hashlib.sha256()
        with self.download_stream(did, service_id, file_index, tx_id) as response, path.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
                digest.update(chunk)
        return digest.hexdigest()

    def compute_start(
        self,
        dataset: dict[str, Any],
        algorithm: dict[str, Any],
        additional_datasets: list[dict[str, Any]] | None = None,
        environment: str | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            body: dict[str, Any] = {"dataset": dataset, "algorithm": algorithm}
            if additional_datasets:
                body["additionalDatasets"] = additional_datasets
            if environment:
                body["environment"] = environment
            signed = self.signed("computeStart", body, document_id=dataset["documentId"])
            return self._send("POST", "/api/services/compute", signed)  # type: ignore[no-any-return]

    def _job_body(self, action: str, job_id: str = "", did: str = "", query: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if job_id:
            params["jobId"] = job_id
        if did:
            params["documentId"] = did
        return self.signed(action, params, document_id=did, job_id=job_id, query=query)

    def compute_status(self, job_id: str = "", did: str = "") -> list[dict[str, Any]]:
        with self._lock:
            params = self._job_body("computeStatus", job_id, did)
            return self._get("/api/services/compute", **params)  # type: ignore[no-any-return]

    def compute_stop(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            body = self._job_body("computeStop", job_id, query=False)
            return self._send("PUT", "/api/services/compute", body)  # type: ignore[no-any-return]

    def compute_delete(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            params = self._job_body("computeDelete", job_id)
            return self._send("DELETE", "/api/services/compute", params=params)  # type: ignore[no-any-return]

    def compute_result(self, job_id: str, index: int) -> bytes:
        with self._lock:
            params = self.signed(
                "computeResult", {"jobId": job_id, "index": index}, job_id=job_id, index=index, query=True
            )
            response = self.http.get("/api/services/computeResult", params=params)
        _raise_for(response)
        return response.content

    def compute_logs(self, job_id: str) -> bytes:
        with self._lock:
            params = self._job_body("computeLogs", job_id)
            request = self.http.build_request("GET", "/api/services/computeLogs", params=params)
            response = self.http.send(request, stream=True)
        try:
            response.read()
        finally:
            response.close()
        _raise_for(response)
        return response.content

    def iter_logs(self, job_id: str, follow: bool = True) -> Iterator[bytes]:
        """The job's algorithm log as it comes (followed while the job runs, unless not
        `follow`), chunk by chunk."""
        with self._lock:
            extra = {} if follow else {"follow": False}
            params = self.signed("computeLogs", {"jobId": job_id, **extra}, job_id=job_id, query=True)
            request = self.http.build_request("GET", "/api/services/computeLogs", params=params)
            response = self.http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            yield from response.iter_raw()  # as it comes: a chunk size would wait for that many bytes
        finally:
            response.close()

    def web_link(self) -> str:
        """The provider's page signed in as this address: one signed request (action
        webSession) in the URL's fragment, which browsers never send to a server. Whoever has
        the link may read this address's jobs for an hour once the page has opened it; it
        works once, within SIGNATURE_SECONDS."""
        import base64
        import json

        with self._lock:
            signed = self.signed("webSession", {})
        token = base64.urlsafe_b64encode(json.dumps(signed, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{self.url}/ui/#session={token}"

    def environments(self) -> list[dict[str, Any]]:
        return self._get("/api/services/computeEnvironments")  # type: ignore[no-any-return]

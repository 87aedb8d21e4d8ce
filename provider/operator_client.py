"""Calls to the operator service, each signed with the provider's key.

Headers: C2D-Signer (the provider's address), C2D-Nonce (strictly increasing) and C2D-Signature,
an EIP-191 signature of c2d.signing.request_message(method, path with query, nonce, body)."""

from typing import Any

import httpx
from pydantic import ValidationError

from c2d.job import JobStatus
from c2d.job.results import JOB_STATUSES
from c2d.provider.crypto import ProviderKey
from c2d.provider.errors import BadGateway, ProviderError, Unavailable
from c2d.signing import NonceClock, signed_headers

PREFIX = "/api/v1/operator"


class OperatorUnavailable(Unavailable):
    code = "operator_unavailable"

    def __init__(self, message: str, reached: bool = False) -> None:
        super().__init__(message)
        self.reached = reached  # the request may have reached the operator (a timeout, not a refusal)


class OperatorClient:
    def __init__(self, base_url: str, key: ProviderKey, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.client = client
        self._nonces = NonceClock()

    def _signed(self, method: str, path: str, params: dict[str, Any] | None, body: Any, follow: bool) -> httpx.Request:
        # the client's timeouts (the provider's http_timeout); none between two chunks of a log followed
        timeout = httpx.Timeout(self.client.timeout.connect or 10.0, read=None if follow else self.client.timeout.read)
        request = self.client.build_request(
            method, self.base_url + PREFIX + path, params=params, json=body, timeout=timeout
        )
        request.headers.update(
            signed_headers(
                self.key.private_key,
                self.key.address,
                method,
                request.url.raw_path.decode(),
                request.content,
                self._nonces.next(),
            )
        )
        return request

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """Sends a signed request and returns its JSON; the operator's own errors are passed on."""
        response = await self.send(method, path, params, body, stream=False)
        return response.json()

    async def jobs(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> list[JobStatus]:
        """A call answered with job statuses (c2d.job.JobStatus), checked as such."""
        answer = await self.call(method, path, params, body)
        try:
            return JOB_STATUSES.validate_python(answer)
        except ValidationError:
            raise BadGateway("the operator service answered with no job statuses", code="operator_failed") from None

    async def send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        stream: bool = True,
        follow: bool = False,
    ) -> httpx.Response:
        """`follow`: an answer that may wait for what comes (a running job's log): no read timeout."""
        request = self._signed(method, path, params, body, follow)
        try:
            response = await self.client.send(request, stream=stream)
        except httpx.ConnectError:
            raise OperatorUnavailable("the operator service does not answer; try again later") from None
        except httpx.HTTPError:
            raise OperatorUnavailable("the operator service did not answer in time", reached=True) from None
        if response.status_code >= 400:
            if stream:
                await response.aread()
                await response.aclose()
            raise _operator_error(response)
        return response


def _operator_error(response: httpx.Response) -> ProviderError:
    try:
        data = response.json()
        code, message = str(data["error"]), str(data["message"])
    except (ValueError, KeyError, TypeError):
        return BadGateway(f"the operator service answered {response.status_code}", code="operator_failed")
    if response.status_code >= 500:
        return BadGateway(message, code=code)
    return ProviderError(message, code=code, status=response.status_code)

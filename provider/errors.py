"""The provider's errors: each has a stable code and an HTTP status, and its message is safe to
show (no URL, key or internal detail)."""

from c2d.chain import ChainError, OrderError


class ProviderError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidRequest(ProviderError):
    code = "invalid_request"


class Unauthorized(ProviderError):
    status = 401
    code = "invalid_signature"


class Forbidden(ProviderError):
    status = 403
    code = "forbidden"


class NotFound(ProviderError):
    status = 404
    code = "not_found"


class PaymentRequired(ProviderError):
    """The order does not pay for what is asked."""

    status = 402
    code = "invalid_order"


class RangeNotSatisfiable(ProviderError):
    status = 416
    code = "range_not_satisfiable"


class Unavailable(ProviderError):
    status = 503
    code = "unavailable"


class BadGateway(ProviderError):
    status = 502
    code = "upstream_failed"


def from_chain_error(exc: ChainError) -> ProviderError:
    """Maps c2d.chain's errors onto HTTP: order problems are the client's (402, or 400 for a
    malformed hash), an unreachable chain is ours (503)."""
    if isinstance(exc, OrderError):
        if exc.code == "invalid_tx_hash":
            return InvalidRequest(str(exc), code=exc.code)
        return PaymentRequired(str(exc), code=exc.code)
    if exc.code == "invalid_did":
        return InvalidRequest(str(exc), code=exc.code)
    if exc.code == "chain_unavailable":
        return Unavailable("the chain does not answer; try again later", code="chain_unavailable")
    return Unavailable("the chain gave an unexpected answer", code=exc.code)

"""Who is asking: EIP-712 signatures of exactly one request (c2d.signing), with strictly
increasing nonces per address and an expiry."""

from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from c2d.provider.errors import InvalidRequest, Unauthorized
from c2d.provider.store import Store
from c2d.signing import (
    MAX_EXPIRY_SECONDS,
    MAX_NONCE,
    InvalidSignature,
    SignedRequest,
    expiry_in_range,
    nonce_in_range,
    params_hash,
    recover_request,
)

NONCE_RANGE = (
    "a nonce is the last one plus at most 1000, or the current time in milliseconds or nanoseconds "
    "since the epoch (within 300 s of the provider's clock)"
)


def parse_address(value: str, field: str = "address") -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidRequest(f"{field} is not an Ethereum address", code="invalid_address")
    return to_checksum_address(value)


def parse_nonce(value: str | int) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_NONCE:
        raise InvalidRequest(f"nonce must be a whole number from 1 to {MAX_NONCE}", code="invalid_nonce")
    return int(text)


def parse_expiry(value: str | int | None) -> int:
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or len(text) > 12:
        raise InvalidRequest("expiry must be a time in unix seconds", code="invalid_expiry")
    return int(text)


class Auth:
    def __init__(self, store: Store, chain_id: int, provider_address: str) -> None:
        self.store = store
        self.chain_id = chain_id
        self.provider_address = provider_address

    def verify_request(
        self,
        address: str,
        nonce: str | int,
        expiry: str | int | None,
        signature: str,
        action: str,
        params: dict[str, Any],
        document_id: str = "",
        job_id: str = "",
        index: int = 0,
        field: str = "consumerAddress",
    ) -> ChecksumAddress:
        """Checks that `address` signed exactly this request (action, what it names, a hash
        of its other parameters, nonce and expiry) for this provider, and records the nonce;
        a nonce not larger than the last recorded one, or an expiry past or too far ahead, is
        rejected."""
        claimed = parse_address(address, field)
        value = parse_nonce(nonce)
        until = parse_expiry(expiry)
        if not expiry_in_range(until):
            raise Unauthorized(
                f"the signature's expiry must lie in the next {MAX_EXPIRY_SECONDS} s", code="signature_expired"
            )
        try:
            covered = params_hash(params)
        except ValueError as exc:  # NaN, Infinity, fractions: nothing a signature can cover
            raise InvalidRequest(str(exc), code="invalid_request") from None
        request = SignedRequest(action, claimed, value, until, covered, document_id, job_id, index)
        try:
            signer = recover_request(self.chain_id, self.provider_address, request, signature)
        except InvalidSignature as exc:
            raise Unauthorized(str(exc), code="invalid_signature") from None
        if signer != claimed:
            raise Unauthorized("the signature is not by this address for this request", code="signature_mismatch")
        if not nonce_in_range(value, self.store.nonce(claimed)):
            raise Unauthorized(NONCE_RANGE, code="nonce_out_of_range")
        if not self.store.advance_nonce(claimed, value):
            current = self.store.nonce(claimed)
            raise Unauthorized(f"nonce must be larger than {current}", code="nonce_reused")
        return claimed

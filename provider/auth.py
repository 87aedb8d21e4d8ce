"""Who is asking: EIP-191 signatures and strictly increasing nonces per address."""

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from c2d.provider.errors import InvalidRequest, Unauthorized
from c2d.provider.store import Store
from c2d.signing import MAX_NONCE, InvalidSignature, nonce_in_range, recover

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


class Auth:
    def __init__(self, store: Store) -> None:
        self.store = store

    def verify(
        self, address: str, nonce: str | int, signature: str, message: str, field: str = "consumerAddress"
    ) -> ChecksumAddress:
        """Checks that `address` signed `message` (which must embed `nonce`) and records the
        nonce; a nonce not larger than the last recorded one is rejected."""
        claimed = parse_address(address, field)
        value = parse_nonce(nonce)
        try:
            signer = recover(message, signature)
        except InvalidSignature as exc:
            raise Unauthorized(str(exc), code="invalid_signature") from None
        if signer != claimed:
            raise Unauthorized("the signature is not by this address", code="signature_mismatch")
        if not nonce_in_range(value, self.store.nonce(claimed)):
            raise Unauthorized(NONCE_RANGE, code="nonce_out_of_range")
        if not self.store.advance_nonce(claimed, value):
            current = self.store.nonce(claimed)
            raise Unauthorized(f"nonce must be larger than {current}", code="nonce_reused")
        return claimed

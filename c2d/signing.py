"""EIP-191 signatures: the messages consumers, publishers and the provider sign.

A consumer signs (personal_sign) one of these texts with a nonce larger than the last one the
provider recorded for its address:

    download, encrypt        did + nonce
    compute start            consumer + "" + did + nonce   (no job id yet)
    compute status/stop/...  consumer + jobId + did + nonce (jobId and did may be empty)
    compute result           consumer + jobId + index + nonce

The provider signs its calls to the operator service with `request_message`.
"""

import hashlib

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_typing import ChecksumAddress

MAX_NONCE = 2**63 - 1


class InvalidSignature(ValueError):
    """A signature that is malformed or does not recover to an address."""


def download_message(did: str, nonce: int) -> str:
    return f"{did}{nonce}"


def compute_message(consumer: str, job_id: str, did: str, nonce: int) -> str:
    return f"{consumer}{job_id}{did}{nonce}"


def result_message(consumer: str, job_id: str, index: int, nonce: int) -> str:
    return f"{consumer}{job_id}{index}{nonce}"


def request_message(method: str, path: str, nonce: int, body: bytes) -> str:
    """What the provider signs for an operator-service call: method, path with query, nonce
    and the body's SHA-256, one per line."""
    return f"{method.upper()}\n{path}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"


def sign(private_key: str, text: str) -> str:
    signed = Account.sign_message(encode_defunct(text=text), private_key=private_key)
    return "0x" + bytes(signed.signature).hex()


def recover(text: str, signature: str) -> ChecksumAddress:
    """The address that signed `text`; raises InvalidSignature for anything malformed."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            raise InvalidSignature("a signature is 65 bytes of hex")
        return Account.recover_message(encode_defunct(text=text), signature=raw)  # type: ignore[no-any-return]
    except InvalidSignature:
        raise
    except Exception:  # eth_keys raises several types for bad v, r, s
        raise InvalidSignature("the signature does not recover to an address") from None

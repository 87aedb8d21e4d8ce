"""EIP-191 signatures: the messages consumers, publishers and the provider sign.

A consumer signs (personal_sign) one of these texts with a nonce larger than the last one the
provider recorded for its address, and either at most 1,000 above it (a counter) or the current
time in milliseconds or nanoseconds since the epoch, within 5 minutes of the provider's clock
(see nonce_in_range):

    download, encrypt        did + nonce
    compute start            consumer + "" + did + nonce   (no job id yet)
    compute status/stop/...  consumer + jobId + did + nonce (jobId and did may be empty)
    compute result           consumer + jobId + index + nonce

The provider signs its calls to the operator service with `request_message`.
"""

import hashlib
import threading
import time
from collections.abc import Collection, Mapping

import coincurve
from Crypto.Hash import keccak
from eth_typing import ChecksumAddress

MAX_NONCE = 2**63 - 1
NONCE_COUNTER_STEP = 1000
NONCE_WINDOW = 300  # seconds


def nonce_in_range(nonce: int, last: int, now_ns: int | None = None, window: float = NONCE_WINDOW) -> bool:
    """Whether a nonce is one a service accepts (besides being larger than the last one): a
    counter at most NONCE_COUNTER_STEP above the last, or the current time in milliseconds or
    nanoseconds since the epoch, within `window` seconds of this service's clock. So no single
    signature can raise an address's nonce beyond what the next minutes reach: a nonce of
    2**63 - 1 would lock the address out for good."""
    if nonce <= last + NONCE_COUNTER_STEP:
        return True
    now = time.time_ns() if now_ns is None else now_ns
    return abs(nonce - now // 1_000_000) <= window * 1_000 or abs(nonce - now) <= window * 1_000_000_000


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


# Signing and recovery use libsecp256k1 (coincurve) directly: the same results as eth_account's
# personal_sign, without its import (over half a second), which matters to every stage process.


def _keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _personal_hash(text: str) -> bytes:
    """EIP-191 version 0x45: keccak256("\x19Ethereum Signed Message:\n" + len + message)."""
    message = text.encode()
    return _keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def _checksummed(address_bytes: bytes) -> ChecksumAddress:
    """EIP-55 mixed-case form of a 20-byte address."""
    lower = address_bytes.hex()
    digest = _keccak(lower.encode()).hex()
    return ChecksumAddress("0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower)))  # type: ignore[arg-type]


def _address_of_public_key(public_key: coincurve.PublicKey) -> ChecksumAddress:
    return _checksummed(_keccak(public_key.format(compressed=False)[1:])[-20:])


def address_of(private_key: str) -> ChecksumAddress:
    return _address_of_public_key(coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x"))).public_key)


def sign(private_key: str, text: str) -> str:
    """EIP-191 personal_sign of `text`: 0x-hex r || s || v (v = 27 or 28)."""
    key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
    signature = key.sign_recoverable(_personal_hash(text), hasher=None)
    return "0x" + (signature[:64] + bytes([signature[64] + 27])).hex()


def recover(text: str, signature: str) -> ChecksumAddress:
    """The address that signed `text`; raises InvalidSignature for anything malformed."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise InvalidSignature("a signature is 65 bytes of hex") from None
    if len(raw) != 65:
        raise InvalidSignature("a signature is 65 bytes of hex")
    v = raw[64] - 27 if raw[64] >= 27 else raw[64]
    if v not in (0, 1):
        raise InvalidSignature("the signature's v is not 27 or 28")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            raw[:64] + bytes([v]), _personal_hash(text), hasher=None
        )
    except Exception:  # libsecp256k1 rejects r or s out of range, or no point
        raise InvalidSignature("the signature does not recover to an address") from None
    return _address_of_public_key(public_key)


SIGNER_HEADER = "C2D-Signer"
NONCE_HEADER = "C2D-Nonce"
SIGNATURE_HEADER = "C2D-Signature"


def signed_headers(private_key: str, address: str, method: str, path: str, body: bytes, nonce: int) -> dict[str, str]:
    """Headers of a service-to-service request (provider → operator, operator → provider)."""
    return {
        SIGNER_HEADER: address,
        NONCE_HEADER: str(nonce),
        SIGNATURE_HEADER: sign(private_key, request_message(method, path, nonce, body)),
    }


class RequestRejected(Exception):
    """A service-to-service request whose signature, signer or nonce is not acceptable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_request_headers(headers: Mapping[str, str], allowed: Collection[str]) -> None:
    """What can be checked of a signed request before its body is read: the three headers are
    there and well-formed, and the named signer is allowed. Raises RequestRejected."""
    signer, nonce_text, signature = (headers.get(h) for h in (SIGNER_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
    if not signer or not nonce_text or not signature:
        raise RequestRejected("unsigned_request", "this service only answers signed requests")
    # The length first: int() of a header's thousands of digits raises (and costs) before any range check.
    if not nonce_text.isdigit() or len(nonce_text) > 19 or not 0 < int(nonce_text) <= MAX_NONCE:
        raise RequestRejected("invalid_nonce", "the request's nonce is not a whole number")
    if len(signature) != 132 or not signature.startswith("0x"):
        raise RequestRejected("invalid_signature", "a signature is 65 bytes of hex")
    if signer.lower() not in {a.lower() for a in allowed}:
        raise RequestRejected("signer_not_allowed", "this signer may not call this service")


def verify_signed_request(
    method: str, path: str, body: bytes, headers: Mapping[str, str], allowed: Collection[str]
) -> tuple[ChecksumAddress, int]:
    """The signer and nonce of a signed request; raises RequestRejected. The caller still checks
    that the nonce is larger than the signer's last one."""
    check_request_headers(headers, allowed)
    signer, signature = headers[SIGNER_HEADER], headers[SIGNATURE_HEADER]
    nonce = int(headers[NONCE_HEADER])
    try:
        recovered = recover(request_message(method, path, nonce, body), signature)
    except InvalidSignature as exc:
        raise RequestRejected("invalid_signature", str(exc)) from None
    if recovered.lower() != signer.lower():
        raise RequestRejected("signature_mismatch", "the signature is not by the named signer")
    return recovered, nonce


class NonceClock:
    """Strictly increasing nonces for a service's own signed requests: nanoseconds since the
    epoch, bumped when two are asked for in the same nanosecond (or the clock steps back)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last

"""Signatures: what consumers and publishers sign for the provider (EIP-712 typed data), and
what the services sign for each other (EIP-191 over a request line).

A consumer's or publisher's request carries `nonce`, `expiry` and `signature`, and the signature
is EIP-712 typed data (eth_signTypedData_v4) of one C2DRequest, naming exactly what it authorises:

    EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
        name "c2d", version "1", the provider's chainId, and the provider's address (GET /:
        providerAddress) as verifyingContract: a signature for one provider is no use at another
    C2DRequest(string action,address consumer,string documentId,string jobId,uint256 index,
               bytes32 params,uint256 nonce,uint256 expiry)

    action      download, encrypt, computeStart, computeStatus, computeStop, computeDelete,
                computeResult, computeLogs; a publisher's computeRecord, computeApproval
    consumer    the signer (consumerAddress; publisherAddress for encrypt, computeRecord and
                computeApproval)
    documentId  the DID the request names ("" if none); jobId likewise
    index       fileIndex of a download, index of a result, else 0
    params      keccak256 of the request's other parameters as canonical JSON (RFC 8785: keys
                sorted, no whitespace, UTF-8): the JSON body of a POST or PUT, the query
                parameters of a GET or DELETE (values as the strings sent), in both cases
                without consumerAddress/publisherAddress, nonce, expiry and signature
    nonce       larger than the last nonce the provider recorded for the address, and at most
                1,000 above it or the current time in ms or ns within 5 minutes (nonce_in_range)
    expiry      unix seconds after which the signature is refused: in the future, at most
                MAX_EXPIRY_SECONDS ahead

So a status signature cannot delete a job, a start signature covers the algorithm, the orders
and the environment, and nothing signed is valid for long or twice. typed_data() gives the JSON a
wallet signs; sign_request() and recover_request() do the same hashing without eth_account.

The provider signs its calls to the operator service with `request_message` (EIP-191), and the
operator's configure stages sign their input requests to the provider the same way. Those nonces
are the signer's clock in nanoseconds (NonceClock): one is accepted within NONCE_WINDOW of the
receiver's clock (service_nonce_fresh) and only once (c2d.db.NonceLedger remembers each for the
window), in whatever order concurrent requests arrive.
"""

import hashlib
import json
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import coincurve
from Crypto.Hash import keccak

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
else:  # a NewType of str; eth_typing costs a stage program's start a tenth of its imports
    ChecksumAddress = str

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


def service_nonce_fresh(nonce: int, now_ns: int | None = None, window: float = NONCE_WINDOW) -> bool:
    """Whether a service's nonce (its clock, in nanoseconds) is within `window` seconds of this
    service's clock: older ones are refused, so remembering each for the window is enough."""
    now = time.time_ns() if now_ns is None else now_ns
    return abs(nonce - now) <= window * 1_000_000_000


class InvalidSignature(ValueError):
    """A signature that is malformed or does not recover to an address."""


SIGNATURE_FIELDS = frozenset({"consumerAddress", "publisherAddress", "nonce", "expiry", "signature"})
MAX_EXPIRY_SECONDS = 3600
DOMAIN_NAME, DOMAIN_VERSION = "c2d", "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
REQUEST_TYPE = (
    "C2DRequest(string action,address consumer,string documentId,string jobId,uint256 index,"
    "bytes32 params,uint256 nonce,uint256 expiry)"
)


@dataclass(frozen=True)
class SignedRequest:
    """What one consumer signature authorises (see the module's documentation)."""

    action: str
    consumer: str
    nonce: int
    expiry: int
    params: bytes  # params_hash() of the request's other parameters
    document_id: str = ""
    job_id: str = ""
    index: int = 0


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON of the values c2d's requests hold (strings, integers, booleans,
    null, lists, objects): keys sorted, no whitespace, non-ASCII as UTF-8. Raises ValueError for
    a number with a fraction or exponent, NaN or Infinity (formatted differently by different
    languages, so no value a signature could cover)."""
    _no_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_floats(value: Any) -> None:
    stack = [value]
    while stack:  # iterative: a body's depth is bounded before parsing, this needs no recursion either
        item = stack.pop()
        if isinstance(item, float):
            raise ValueError("a signed request holds no fractional numbers")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def params_hash(params: Mapping[str, Any]) -> bytes:
    """keccak256 of the canonical JSON of a request's parameters, without the signature's own."""
    kept = {k: v for k, v in params.items() if k not in SIGNATURE_FIELDS}
    return _keccak(canonical_json(kept).encode())


def expiry_in_range(expiry: int, now: float | None = None) -> bool:
    current = time.time() if now is None else now
    return current < expiry <= current + MAX_EXPIRY_SECONDS


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise InvalidSignature("an address is 20 bytes")
    return bytes(12) + raw


def request_digest(chain_id: int, provider: str, request: SignedRequest) -> bytes:
    """The EIP-712 digest keccak256(0x1901 || domainSeparator || hashStruct(request))."""
    domain = _keccak(
        _keccak(DOMAIN_TYPE.encode())
        + _keccak(DOMAIN_NAME.encode())
        + _keccak(DOMAIN_VERSION.encode())
        + _word(chain_id)
        + _address_word(provider)
    )
    if len(request.params) != 32:
        raise InvalidSignature("params is a 32-byte hash")
    struct = _keccak(
        _keccak(REQUEST_TYPE.encode())
        + _keccak(request.action.encode())
        + _address_word(request.consumer)
        + _keccak(request.document_id.encode())
        + _keccak(request.job_id.encode())
        + _word(request.index)
        + request.params
        + _word(request.nonce)
        + _word(request.expiry)
    )
    return _keccak(b"\x19\x01" + domain + struct)


def typed_data(chain_id: int, provider: str, request: SignedRequest) -> dict[str, Any]:
    """The request as eth_signTypedData_v4 JSON, for a wallet to sign."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "C2DRequest": [
                {"name": "action", "type": "string"},
                {"name": "consumer", "type": "address"},
                {"name": "documentId", "type": "string"},
                {"name": "jobId", "type": "string"},
                {"name": "index", "type": "uint256"},
                {"name": "params", "type": "bytes32"},
                {"name": "nonce", "type": "uint256"},
                {"name": "expiry", "type": "uint256"},
            ],
        },
        "primaryType": "C2DRequest",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id, "verifyingContract": provider},
        "message": {
            "action": request.action,
            "consumer": request.consumer,
            "documentId": request.document_id,
            "jobId": request.job_id,
            "index": request.index,
            "params": "0x" + request.params.hex(),
            "nonce": request.nonce,
            "expiry": request.expiry,
        },
    }


def sign_request(private_key: str, chain_id: int, provider: str, request: SignedRequest) -> str:
    """The EIP-712 signature of `request` for the provider `provider`: 0x-hex r || s || v."""
    key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
    signature = key.sign_recoverable(request_digest(chain_id, provider, request), hasher=None)
    return "0x" + (signature[:64] + bytes([signature[64] + 27])).hex()


def recover_request(chain_id: int, provider: str, request: SignedRequest, signature: str) -> ChecksumAddress:
    """The address that signed `request`; raises InvalidSignature for anything malformed."""
    return _recover_digest(request_digest(chain_id, provider, request), signature)


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
    """The address that signed `text` (EIP-191); raises InvalidSignature for anything malformed."""
    return _recover_digest(_personal_hash(text), signature)


def _recover_digest(digest: bytes, signature: str) -> ChecksumAddress:
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
        public_key = coincurve.PublicKey.from_signature_and_message(raw[:64] + bytes([v]), digest, hasher=None)
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

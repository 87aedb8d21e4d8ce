"""Request and response bodies of the provider's HTTP API (they make its OpenAPI schema)."""

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from eth_utils.address import is_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from c2d.provider.crypto import FileSpec
from c2d.provider.ddo import Container
from c2d.signing import MAX_NONCE


@lru_cache(maxsize=65_536)  # the same few addresses come again and again; keccak is not free
def _checksummed(value: str) -> str:
    if not is_address(value):
        raise ValueError("not an Ethereum address (mixed case must be a valid checksum)")
    return str(to_checksum_address(value))


Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$"), AfterValidator(_checksummed)]
Did = Annotated[
    str,
    Field(pattern=r"^did:op:[0-9a-fA-F]{40}$", examples=["did:op:3c63250aFA2470359482d98749f2d60D2971c818"]),
]
TxHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Signature = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]
Nonce = Annotated[int, Field(ge=1, le=MAX_NONCE)]
Expiry = Annotated[int, Field(ge=0, le=10**12, description="unix seconds; the signature is refused after it")]
ServiceIndex = Annotated[int, Field(ge=0, le=2**32)]


@dataclass(frozen=True)
class Signed:
    """A consumer's signature fields and the parameters it covers (c2d.signing)."""

    address: str
    nonce: int
    expiry: int
    signature: str
    params: dict[str, Any]


class ErrorBody(BaseModel):
    error: str = Field(description="stable error code")
    message: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NonceResponse(BaseModel):
    nonce: int


class EncryptRequest(_Body):
    documentId: Did
    document: list[FileSpec] = Field(min_length=1, max_length=100)
    publisherAddress: Address
    nonce: Nonce
    expiry: Expiry
    signature: Signature


class EncryptResponse(BaseModel):
    encryptedDocument: str


class FileInfoRequest(_Body):
    did: Did
    serviceId: ServiceIndex | None = None


class FileInfo(BaseModel):
    index: int
    contentType: str | None
    contentLength: int | None
    valid: bool


class InitializeResponse(BaseModel):
    datatoken: str
    serviceId: int
    serviceType: str
    cost: str = Field(description="what the publisher must receive, in datatoken wei")
    amount: str = Field(description="what to pass to startOrder: the cost plus the community fee")
    receiver: str
    timeout: int
    nonce: int
    computeAddress: str


class DatasetInput(_Body):
    documentId: Did
    serviceId: ServiceIndex
    transferTxId: TxHash
    userdata: dict[str, Any] | None = Field(default=None, max_length=64, description="consumer parameters' values")


class RawAlgorithmMeta(_Body):
    rawcode: str = Field(min_length=1)
    container: Container
    language: str | None = None


class AlgorithmInput(_Body):
    documentId: Did | None = None
    serviceId: ServiceIndex | None = None
    transferTxId: TxHash | None = None
    meta: RawAlgorithmMeta | None = None
    algocustomdata: dict[str, Any] | None = Field(
        default=None, max_length=64, description="consumer parameters' values"
    )


class ComputeStartRequest(_Body):
    consumerAddress: Address
    nonce: Nonce
    expiry: Expiry
    signature: Signature
    dataset: DatasetInput
    additionalDatasets: list[DatasetInput] = Field(default=[], max_length=10)
    algorithm: AlgorithmInput
    environment: str | None = Field(default=None, max_length=100)


class ComputeJobRequest(_Body):
    consumerAddress: Address
    nonce: Nonce
    expiry: Expiry
    signature: Signature
    jobId: str | None = Field(default=None, max_length=100)
    documentId: Did | None = None


class WebSessionRequest(_Body):
    """One signed request of action webSession (what `c2d web` signs), for a page's session."""

    consumerAddress: Address
    nonce: Nonce
    expiry: Expiry
    signature: Signature


class WebSession(BaseModel):
    address: str
    expires: int = Field(description="unix seconds when the session ends")


class ComputeApprovalRequest(_Body):
    """A publisher's (an approver's) decision on a job held for approval (status 52)."""

    publisherAddress: Address
    nonce: Nonce
    expiry: Expiry
    signature: Signature
    jobId: str = Field(min_length=1, max_length=100)
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=300, description="shown to the consumer with a rejection")


class RootInfo(BaseModel):
    software: str
    version: str
    chainId: int
    providerAddress: str
    computeAddress: str
    serviceEndpoints: dict[str, list[str]]
    computeLimits: dict[str, Any]
    deployment: dict[str, Any] = Field(
        description="the contracts this provider uses (addresses.json's entry for chainId): what a client "
        "needs besides the provider's URL"
    )
    rpcUrl: str | None = Field(
        default=None, description="a JSON-RPC URL of the chain for clients, if the provider's operator names one"
    )

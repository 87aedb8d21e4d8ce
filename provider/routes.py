"""HTTP routes under /api/services: parse, call the Provider, return."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from c2d.job import JobStatus
from c2d.job.policy import JobRecord
from c2d.provider import models
from c2d.provider.errors import InvalidRequest
from c2d.provider.service import Provider

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": models.ErrorBody} for code in (400, 401, 402, 403, 404, 409, 416, 422, 502, 503)
}

router = APIRouter(responses=ERRORS)
services = APIRouter(prefix="/api/services", responses=ERRORS)

ConsumerQ = Annotated[models.Address, Query(description="the consumer's address")]
DidQ = Annotated[models.Did, Query(description="the asset's DID")]
NonceQ = Annotated[models.Nonce, Query(description="larger than the last nonce used by this address")]
SignatureQ = Annotated[models.Signature, Query(description="EIP-712 signature of the request (c2d.signing)")]
ExpiryQ = Annotated[models.Expiry, Query(description="unix seconds after which the signature is refused")]


def provider(request: Request) -> Provider:
    return request.app.state.provider  # type: ignore[no-any-return]


async def signed_by(request: Request, address: str, nonce: int, expiry: int, signature: str) -> models.Signed:
    """A consumer's signature fields and the parameters they cover."""
    return models.Signed(address, nonce, expiry, signature, await signed_params(request))


async def signed_params(request: Request) -> dict[str, Any]:
    """The parameters a consumer's signature covers (c2d.signing): the JSON body of a POST or
    PUT, else the query parameters as sent (each at most once)."""
    if request.method in ("POST", "PUT"):
        body = await request.json()
        return body if isinstance(body, dict) else {}
    items = request.query_params.multi_items()
    params = dict(items)
    if len(params) != len(items):
        raise InvalidRequest("a query parameter is given twice", code="duplicate_parameter")
    return params


@router.get("/", response_model=models.RootInfo)
def root(request: Request) -> models.RootInfo:
    """What this provider is, its addresses and endpoints."""
    return provider(request).info()


@services.get("/nonce", response_model=models.NonceResponse)
async def nonce(request: Request, userAddress: Annotated[models.Address, Query()]) -> Response:
    """The last nonce recorded for an address (0 if none): sign the next request with a larger one."""
    # A one-row read of the local database (usually of its cache): cheaper in the event loop
    # than a thread hop. The JSON is written directly: the hottest route skips re-validation.
    return JSONResponse({"nonce": provider(request).nonce(userAddress)})


@services.post("/encrypt", response_model=models.EncryptResponse)
async def encrypt(request: Request, body: models.EncryptRequest) -> models.EncryptResponse:
    """Encrypts an asset's file list to this provider (the datatoken's minter only; signed
    action: encrypt). The result goes into the DDO as `encryptedFiles`."""
    return models.EncryptResponse(encryptedDocument=await provider(request).encrypt(body, await signed_params(request)))


@services.post("/fileinfo", response_model=list[models.FileInfo])
async def fileinfo(request: Request, body: models.FileInfoRequest) -> list[models.FileInfo]:
    """Type and size of an asset's files; their URLs are never shown."""
    return await provider(request).fileinfo(body)


@services.get("/initialize", response_model=models.InitializeResponse)
async def initialize(
    request: Request,
    documentId: DidQ,
    serviceId: Annotated[models.ServiceIndex, Query()],
    consumerAddress: ConsumerQ,
) -> Response:
    """What to order: datatoken, amount (cost plus fees), receiver, the consumer's nonce."""
    service = provider(request)
    if service.cached_asset(documentId):  # nothing to wait for: answer from the event loop
        answer = service.initialize(documentId, serviceId, consumerAddress)
    else:
        answer = await run_in_threadpool(service.initialize, documentId, serviceId, consumerAddress)
    return JSONResponse(answer.model_dump())


@services.get(
    "/download",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "a byte range"}},
)
async def download(
    request: Request,
    documentId: DidQ,
    serviceId: Annotated[models.ServiceIndex, Query()],
    fileIndex: Annotated[int, Query(ge=0, le=10_000)],
    consumerAddress: ConsumerQ,
    transferTxId: Annotated[models.TxHash, Query()],
    nonce: NonceQ,
    expiry: ExpiryQ,
    signature: SignatureQ,
    range: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Streams file `fileIndex` of an access service to the consumer who ordered it
    (signed action: download). Supports a single `Range: bytes=…`."""
    signed = await signed_by(request, consumerAddress, nonce, expiry, signature)
    return await provider(request).download(documentId, serviceId, fileIndex, transferTxId, signed, range)


@services.post("/compute", response_model=list[JobStatus])
async def compute_start(request: Request, body: models.ComputeStartRequest) -> Any:
    """Starts a job: checks the signature (action computeStart, covering the whole body), every
    order and the algorithm policy of every dataset, then asks the operator service to run it."""
    signed = await signed_by(request, body.consumerAddress, body.nonce, body.expiry, body.signature)
    return await provider(request).compute.start(body, signed)


@services.get("/compute", response_model=list[JobStatus])
async def compute_status(
    request: Request,
    consumerAddress: ConsumerQ,
    nonce: NonceQ,
    expiry: ExpiryQ,
    signature: SignatureQ,
    jobId: Annotated[str | None, Query(max_length=100)] = None,
    documentId: Annotated[models.Did | None, Query()] = None,
) -> Any:
    """Status of the consumer's jobs, or of one (signed action: computeStatus)."""
    signed = await signed_by(request, consumerAddress, nonce, expiry, signature)
    return await provider(request).compute.status(signed, jobId or "", documentId or "")


@services.put("/compute", response_model=list[JobStatus])
async def compute_stop(request: Request, body: Annotated[models.ComputeJobRequest, Body()]) -> Any:
    """Stops a running job (signed action: computeStop)."""
    signed = await signed_by(request, body.consumerAddress, body.nonce, body.expiry, body.signature)
    return await provider(request).compute.stop(signed, body.jobId or "", body.documentId or "")


@services.delete("/compute", response_model=list[JobStatus])
async def compute_delete(
    request: Request,
    consumerAddress: ConsumerQ,
    nonce: NonceQ,
    expiry: ExpiryQ,
    signature: SignatureQ,
    jobId: Annotated[str, Query(min_length=1, max_length=100)],
    documentId: Annotated[models.Did | None, Query()] = None,
) -> Any:
    """Deletes a finished job and its results (signed action: computeDelete)."""
    signed = await signed_by(request, consumerAddress, nonce, expiry, signature)
    return await provider(request).compute.delete(signed, jobId, documentId or "")


@services.get("/computeResult", response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
async def compute_result(
    request: Request,
    consumerAddress: ConsumerQ,
    jobId: Annotated[str, Query(min_length=1, max_length=100)],
    index: Annotated[int, Query(ge=0, le=10_000)],
    nonce: NonceQ,
    expiry: ExpiryQ,
    signature: SignatureQ,
) -> Response:
    """Streams result `index` of a job (signed action: computeResult)."""
    signed = await signed_by(request, consumerAddress, nonce, expiry, signature)
    return await provider(request).compute.result(jobId, index, signed)


@services.get("/computeLogs", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def compute_logs(
    request: Request,
    consumerAddress: ConsumerQ,
    jobId: Annotated[str, Query(min_length=1, max_length=100)],
    nonce: NonceQ,
    expiry: ExpiryQ,
    signature: SignatureQ,
    follow: Annotated[bool, Query(description="follow the log until the job ends (false: what it holds now)")] = True,
) -> Response:
    """Streams a job's algorithm log while it runs (signed action: computeLogs)."""
    signed = await signed_by(request, consumerAddress, nonce, expiry, signature)
    return await provider(request).compute.logs(signed, jobId, follow)


@services.get("/computeRecord", response_model=JobRecord)
async def compute_record(
    request: Request,
    publisherAddress: Annotated[models.Address, Query(description="a publisher or approver of the job's datasets")],
    jobId: Annotated[str, Query(min_length=1, max_length=100)],
    nonce: NonceQ,
    expiry: ExpiryQ,
    signature: SignatureQ,
) -> Any:
    """The publisher's record of a job on their data: its transitions, the output policy, the
    filter stage's findings with their detail, the approvals (signed action: computeRecord)."""
    signed = await signed_by(request, publisherAddress, nonce, expiry, signature)
    return await provider(request).compute.record(signed, jobId)


@services.post("/computeApproval", response_model=JobRecord)
async def compute_approval(request: Request, body: models.ComputeApprovalRequest) -> Any:
    """Approves or rejects the results of a job held for approval (status 52), by one of its
    approvers (signed action: computeApproval, covering the whole body)."""
    signed = await signed_by(request, body.publisherAddress, body.nonce, body.expiry, body.signature)
    return await provider(request).compute.approve(body, signed)


@services.get("/computeInput", response_class=Response, include_in_schema=False)
async def compute_input(
    request: Request,
    jobId: Annotated[str, Query(min_length=1, max_length=100)],
    did: DidQ,
    index: Annotated[int, Query(ge=0, le=10_000)],
) -> Response:
    """For operators only (signed requests): an input file of a job, for its configure stage."""
    path = request.url.path + ("?" + request.url.query if request.url.query else "")
    return await provider(request).compute.input(request.method, path, request.headers, jobId, did, index)


@services.delete("/computeInput", include_in_schema=False)
async def forget_compute_input(request: Request, jobId: Annotated[str, Query(min_length=1, max_length=100)]) -> Any:
    """For operators only (signed requests): a job's configure stage has fetched its inputs."""
    path = request.url.path + ("?" + request.url.query if request.url.query else "")
    await provider(request).compute.forget_inputs(request.method, path, request.headers, jobId)
    return {"jobId": jobId, "forgotten": True}


@services.get("/computeEnvironments")
async def compute_environments(request: Request) -> Any:
    """The operator's environments: resources, limits, price, free or busy."""
    return await provider(request).compute.environments()

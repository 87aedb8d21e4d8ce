"""What the provider does, route by route; the HTTP layer (routes.py) only parses and maps."""

import json
import logging
import re
import threading
import uuid
from collections import OrderedDict
from typing import Any, TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from web3 import HTTPProvider, Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from c2d import __version__
from c2d.chain import Chain, ChainError, Deployment, VerifiedOrder, datatoken_for, order_amount
from c2d.job import (
    AlgorithmSpec,
    DatasetSpec,
    JobSpec,
    JobStatus,
    PublishedAlgorithmSpec,
    RawAlgorithmSpec,
    Status,
)
from c2d.job import Container as JobContainer
from c2d.provider import models
from c2d.provider.auth import Auth
from c2d.provider.catalog import Catalog
from c2d.provider.crypto import FileSpec, ProviderKey
from c2d.provider.ddo import DDO, Container, PaidService, parse_ddo
from c2d.provider.errors import (
    BadGateway,
    Forbidden,
    InvalidRequest,
    NotFound,
    ProviderError,
    Unauthorized,
    Unavailable,
    from_chain_error,
)
from c2d.provider.files import FileNotAllowed, FileReader, FileUnavailable, check_url, file_client, publisher_root
from c2d.provider.operator_client import OperatorClient, OperatorUnavailable
from c2d.provider.orders import OrderChecker
from c2d.provider.policy import (
    Algorithm,
    PublishedAlgorithm,
    RawAlgorithm,
    check_checksums,
    container_of,
    trust_decision,
)
from c2d.provider.settings import ProviderSettings
from c2d.provider.store import Asset, Store
from c2d.signing import RequestRejected, nonce_in_range, verify_signed_request

log = logging.getLogger("c2d.provider")
Part = TypeVar("Part", bound=BaseModel)

ASSET_CACHE_SIZE = 10_000  # parsed DDOs kept in memory


class Provider:
    """The provider's state and operations, shared by every request."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.key = ProviderKey(settings.provider_key.get_secret_value())
        self.store = Store(settings.provider_database_url)
        w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.http_timeout}))
        self.chain = Chain(w3, Deployment.load(settings.addresses_file, settings.chain_id))
        self._assets: OrderedDict[str, tuple[Asset, DDO]] = OrderedDict()
        self._assets_lock = threading.Lock()
        self.catalog = Catalog(self.chain, self.store, settings.index_interval, on_indexed=self._forget)
        self.auth = Auth(self.store, settings.chain_id, self.key.address)
        self.orders = OrderChecker(self.chain, self.store, settings.confirmations(), settings.order_uses)
        self.http = httpx.AsyncClient(timeout=settings.http_timeout)  # the operator service
        self.file_http = file_client(settings.http_timeout, settings.allow_private_urls)  # publishers' servers
        self.files = FileReader(settings.data_root, self.file_http, settings.allow_private_urls)
        self.operator = OperatorClient(settings.operator_url, self.key, self.http)

    async def start(self) -> None:
        self.catalog.start()

    async def close(self) -> None:
        self.catalog.stop()
        await self.http.aclose()
        await self.file_http.aclose()
        self.store.close()

    # ---- lookups ----

    def asset(self, did: str) -> tuple[Asset, DDO]:
        """The indexed asset of `did`; an asset not indexed yet gets one fresh look at the chain
        (a sync reads only blocks not read yet: usually one eth_blockNumber)."""
        cached = self.cached_asset(did)
        if cached:
            return cached
        try:
            datatoken_for(did)
        except ChainError as exc:
            raise from_chain_error(exc) from None
        asset = self.store.asset(did)
        if asset is None:
            self.catalog.sync()
            asset = self.store.asset(did)
        if asset is None:
            raise NotFound(f"no asset {did} is published", code="unknown_asset")
        found = (asset, parse_ddo(asset.ddo))
        with self._assets_lock:
            self._assets[did] = found
            while len(self._assets) > ASSET_CACHE_SIZE:
                self._assets.popitem(last=False)
        return found

    def cached_asset(self, did: str) -> tuple[Asset, DDO] | None:
        """An asset parsed before and not changed since (the indexer drops changed ones)."""
        with self._assets_lock:
            found = self._assets.get(did)
            if found:
                self._assets.move_to_end(did)
            return found

    def _forget(self, dids: list[str]) -> None:
        with self._assets_lock:
            for did in dids:
                self._assets.pop(did, None)

    def decrypted_files(self, asset: Asset, ddo: DDO) -> list[FileSpec]:
        blob = ddo.metadata.attributes.encryptedFiles
        if not blob:
            raise NotFound("the asset has no files", code="no_files")
        return self.key.decrypt_files(asset.did, blob)

    def file(self, asset: Asset, ddo: DDO, index: int) -> FileSpec:
        for spec in self.decrypted_files(asset, ddo):
            if spec.index == index:
                return spec
        raise NotFound(f"the asset has no file {index}", code="unknown_file")

    # ---- routes ----

    def info(self) -> models.RootInfo:
        base = self.settings.provider_url
        routes = {
            "nonce": ["GET", "/api/services/nonce"],
            "encrypt": ["POST", "/api/services/encrypt"],
            "fileinfo": ["POST", "/api/services/fileinfo"],
            "initialize": ["GET", "/api/services/initialize"],
            "download": ["GET", "/api/services/download"],
            "computeStart": ["POST", "/api/services/compute"],
            "computeStatus": ["GET", "/api/services/compute"],
            "computeStop": ["PUT", "/api/services/compute"],
            "computeDelete": ["DELETE", "/api/services/compute"],
            "computeResult": ["GET", "/api/services/computeResult"],
            "computeLogs": ["GET", "/api/services/computeLogs"],
            "computeEnvironments": ["GET", "/api/services/computeEnvironments"],
        }
        return models.RootInfo(
            software="c2d-provider",
            version=__version__,
            chainId=self.settings.chain_id,
            providerAddress=self.key.address,
            computeAddress=self.key.address,
            serviceEndpoints={name: [method, base + path] for name, (method, path) in routes.items()},
            computeLimits={
                "orderUses": self.settings.order_uses,
                "maxRawAlgorithmBytes": self.settings.max_raw_algorithm_bytes,
            },
        )

    def nonce(self, address: str) -> int:
        return self.store.nonce(address)

    async def encrypt(self, req: models.EncryptRequest, params: dict[str, Any]) -> str:
        datatoken = await run_in_threadpool(_datatoken, req.documentId)
        await run_in_threadpool(
            lambda: self.auth.verify_request(
                req.publisherAddress,
                req.nonce,
                req.expiry,
                req.signature,
                "encrypt",
                params,
                document_id=req.documentId,
                field="publisherAddress",
            )
        )
        minter = await run_in_threadpool(self._minter, datatoken)
        if minter != req.publisherAddress:
            raise Forbidden("only the datatoken's minter may encrypt files for its asset", code="not_publisher")
        root = publisher_root(self.settings.data_root, req.publisherAddress)
        for spec in req.document:
            check_url(spec.url, root, self.settings.allow_private_urls)
        return self.key.encrypt_files(req.documentId, req.document)

    def _minter(self, datatoken: str) -> str:
        try:
            return str(self.chain.datatoken(datatoken).functions.minter().call())
        except (BadFunctionCallOutput, ContractLogicError):
            raise NotFound("no datatoken at the DID's address", code="unknown_datatoken") from None

    async def fileinfo(self, req: models.FileInfoRequest) -> list[models.FileInfo]:
        asset, ddo = await run_in_threadpool(self.asset, req.did)
        if req.serviceId is not None and not any(s.index == req.serviceId for s in ddo.service):
            raise NotFound(f"the asset has no service {req.serviceId}", code="unknown_service")
        declared = {f.index: f for f in ddo.main.files}
        out = []
        for spec in self.decrypted_files(asset, ddo):
            content_type = spec.contentType or (declared[spec.index].contentType if spec.index in declared else None)
            try:
                stat = await self.files.stat(spec, asset.publisher)
                out.append(models.FileInfo(index=spec.index, contentType=content_type or stat.content_type,
                                           contentLength=stat.content_length, valid=True))  # fmt: skip
            except (FileUnavailable, FileNotAllowed):
                out.append(models.FileInfo(index=spec.index, contentType=content_type, contentLength=None, valid=False))
        return out

    def initialize(self, did: str, service_id: int, consumer: str) -> models.InitializeResponse:
        asset, ddo = self.asset(did)
        service = next((s for s in ddo.service if s.index == service_id and isinstance(s, PaidService)), None)
        if service is None:
            raise NotFound(f"the asset has no access or compute service {service_id}", code="unknown_service")
        cost = service.attributes.main.cost
        return models.InitializeResponse(
            datatoken=asset.datatoken,
            serviceId=service.index,
            serviceType=service.type,
            cost=str(cost),
            amount=str(order_amount(cost)),
            receiver=asset.publisher,
            timeout=service.attributes.main.timeout,
            nonce=self.store.nonce(consumer),
            computeAddress=self.key.address,
        )

    async def download(
        self,
        did: str,
        service_id: int,
        file_index: int,
        tx_id: str,
        signed: models.Signed,
        range_header: str | None,
    ) -> Response:
        asset, ddo = await run_in_threadpool(self.asset, did)
        service = ddo.paid_service(service_id, "access")
        consumer = await run_in_threadpool(self._verify, signed, "download", did, "", file_index)
        order, uses = await run_in_threadpool(self.orders.check, tx_id, asset, service, consumer)
        spec = self.file(asset, ddo, file_index)
        # A download is a request from the first byte, and takes a use of the order. Continuing
        # one (a range further on) of an order already used takes no new use while this order's
        # downloads of this file carry, in total, no more than its size plus what a broken
        # transfer may lose in flight (store.download_budget); beyond that, or for a file whose
        # size its server did not say, a continuation takes a use too.
        resumes = uses > 0 and _resumes(range_header)
        name = f"{did[8:16]}-{file_index}"
        key = (order.tx_hash, order.datatoken, file_index)
        if not resumes:  # a use first: a used-up order never reaches the publisher's server
            await run_in_threadpool(self.orders.take, order)
        try:
            response = await self.files.response(spec, asset.publisher, range_header, name, partial_only=resumes)
        except BaseException:
            if not resumes:
                await run_in_threadpool(self.orders.give_back, order)
            raise
        length, size = _lengths(response)
        try:
            if resumes and not (
                length is not None and await run_in_threadpool(self.store.continue_download, *key, length)
            ):
                await run_in_threadpool(self.orders.take, order)  # beyond the budget: a new use
                resumes = False
            if not resumes:
                await run_in_threadpool(self.store.start_download, *key, size, length or 0)
        except BaseException:
            await _close(response)
            raise
        if isinstance(response, StreamingResponse) and length is not None:
            response.body_iterator = _counted(response.body_iterator, length, self.store, key)
        return response

    # ---- compute ----

    async def compute_start(self, req: models.ComputeStartRequest, signed: models.Signed) -> list[JobStatus]:
        datasets = [req.dataset, *req.additionalDatasets]
        if len({d.documentId for d in datasets}) != len(datasets):
            raise InvalidRequest("a dataset is listed twice", code="duplicate_dataset")
        checked = [await run_in_threadpool(self._dataset, d) for d in datasets]
        consumer = await run_in_threadpool(self._verify, signed, "computeStart", req.dataset.documentId, "", 0)
        algorithm, algo_spec, algo_order = await self._algorithm(req.algorithm, consumer)
        job_datasets: list[DatasetSpec] = []
        orders: list[VerifiedOrder] = [] if algo_order is None else [algo_order]
        checksums: list[str] | None = None  # the algorithm's files, hashed once for every dataset
        for (asset, ddo, service), dataset in zip(checked, datasets, strict=True):
            trusted = trust_decision(service.attributes.main.privacy, algorithm)
            if trusted is not None:
                assert isinstance(algorithm, PublishedAlgorithm)
                if checksums is None:
                    checksums = await self._content_checksums(algorithm)
                check_checksums(trusted, algorithm, checksums)
                # configure must get exactly the bytes that were trusted, whatever the DDO says
                assert isinstance(algo_spec, PublishedAlgorithmSpec)
                approved = dict(zip((str(i) for i in algo_spec.files), checksums, strict=True))
                algo_spec = algo_spec.model_copy(update={"checksums": approved})
            order, _ = await run_in_threadpool(self.orders.check, dataset.transferTxId, asset, service, consumer)
            orders.append(order)
            job_datasets.append(
                _job_part(
                    DatasetSpec,
                    did=asset.did,
                    serviceId=service.index,
                    transferTxId=order.tx_hash,
                    files=[spec.index for spec in self.decrypted_files(asset, ddo)],
                    checksums=_declared_checksums(ddo),
                    ddo=_public_ddo(asset),
                )
            )
        privacy = [s.attributes.main.privacy for _, _, s in checked]
        job_id = uuid.uuid4().hex
        job = _job_part(
            JobSpec,
            jobId=job_id,
            owner=consumer,
            environment=req.environment,
            allowNetworkAccess=all(p is not None and p.allowNetworkAccess for p in privacy),
            datasets=job_datasets,
            algorithm=algo_spec,
        )
        inputs = job.dataset_dids + ([job.algorithm_did] if job.algorithm_did else [])
        await run_in_threadpool(self.store.record_job_inputs, job_id, inputs)
        taken: list[VerifiedOrder] = []
        try:
            for order in orders:
                await run_in_threadpool(self.orders.take, order)
                taken.append(order)
            result = await self.operator.jobs("POST", "/compute", body=job.model_dump(mode="json"))
        except Exception as exc:
            if await self._job_exists(exc, consumer, job_id):
                raise Unavailable(
                    f"the job {job_id} was created but its confirmation was lost; follow it with its id",
                    code="job_created",
                ) from None
            for order in taken:
                await run_in_threadpool(self.orders.give_back, order)
            raise
        return result

    async def _job_exists(self, exc: Exception, owner: str, job_id: str) -> bool:
        """After a failed job creation: did the operator create the job anyway (a timeout, or an
        error after it was stored)? Its orders are then used, not given back."""
        if not (isinstance(exc, OperatorUnavailable) and exc.reached) and not isinstance(exc, BadGateway):
            return False
        try:
            return bool(await self.operator.call("GET", "/compute", params={"owner": owner, "jobId": job_id}))
        except ProviderError:
            return True  # unknown: keeping the orders used is what cannot start a second job

    def _dataset(self, dataset: models.DatasetInput) -> tuple[Asset, DDO, PaidService]:
        asset, ddo = self.asset(dataset.documentId)
        if ddo.main.type != "dataset":
            raise InvalidRequest(f"{dataset.documentId} is not a dataset", code="not_a_dataset")
        return asset, ddo, ddo.paid_service(dataset.serviceId, "compute")

    async def _algorithm(
        self, spec: models.AlgorithmInput, consumer: str
    ) -> tuple[Algorithm, AlgorithmSpec, VerifiedOrder | None]:
        if spec.meta is not None:
            if spec.documentId is not None:
                raise InvalidRequest("give either a published algorithm or a raw one", code="invalid_algorithm")
            if len(spec.meta.rawcode.encode()) > self.settings.max_raw_algorithm_bytes:
                raise InvalidRequest("the raw algorithm is too large", code="algorithm_too_large")
            container = spec.meta.container
            raw = RawAlgorithm(spec.meta.rawcode, container)
            return (
                raw,
                _job_part(RawAlgorithmSpec, rawcode=spec.meta.rawcode, container=_job_container(container)),
                None,
            )
        if spec.documentId is None or spec.serviceId is None or spec.transferTxId is None:
            raise InvalidRequest(
                "a published algorithm needs documentId, serviceId and transferTxId", code="invalid_algorithm"
            )
        asset, ddo = await run_in_threadpool(self.asset, spec.documentId)
        container = container_of(ddo)
        service = ddo.paid_service(spec.serviceId, "access")
        order, _ = await run_in_threadpool(self.orders.check, spec.transferTxId, asset, service, consumer)
        published = PublishedAlgorithm(asset.did, asset.publisher, ddo, asset)
        job_spec = _job_part(
            PublishedAlgorithmSpec,
            did=asset.did,
            serviceId=service.index,
            transferTxId=order.tx_hash,
            container=_job_container(container),
            files=sorted(spec.index for spec in self.decrypted_files(asset, ddo)),
            checksums=_declared_checksums(ddo),
            ddo=_public_ddo(asset),
        )
        return published, job_spec, order

    async def _content_checksums(self, algorithm: PublishedAlgorithm) -> list[str]:
        specs = sorted(self.decrypted_files(algorithm.asset, algorithm.ddo), key=lambda s: s.index)
        return [await self.files.sha256(spec, algorithm.publisher) for spec in specs]

    async def _operator_request(self, method: str, path: str, headers: Any) -> None:
        """A request of a configure stage: signed by a trusted operator, with a fresh nonce."""
        try:
            signer, nonce = verify_signed_request(method, path, b"", headers, self.settings.operator_addresses)
        except RequestRejected as exc:
            raise Forbidden(exc.message, code=exc.code) from None
        if not nonce_in_range(nonce, 0):
            raise Unauthorized("the request's nonce is not the current time", code="nonce_out_of_range")
        if not await run_in_threadpool(self.store.advance_nonce, signer, nonce):
            raise Unauthorized("the request's nonce was used before", code="nonce_reused")

    async def compute_input(self, method: str, path: str, headers: Any, job_id: str, did: str, index: int) -> Response:
        """A job input for an operator's configure stage: signed by a trusted operator, only for
        an asset the job was started with, and only while that job is configuring (the operator
        service says so); a job past configuring has its inputs forgotten."""
        await self._operator_request(method, path, headers)
        if not await run_in_threadpool(self.store.is_job_input, job_id, did):
            raise Forbidden("this asset is not an input of that job", code="not_a_job_input")
        stage = await self.operator.call("GET", "/jobStage", params={"jobId": job_id})
        if stage.get("status") != Status.CONFIGURING:
            if stage.get("status") is None or stage["status"] > Status.CONFIGURING:
                await run_in_threadpool(self.store.forget_job_inputs, job_id)
            raise Forbidden("that job is not configuring", code="job_not_configuring")
        asset, ddo = await run_in_threadpool(self.asset, did)
        return await self.files.response(self.file(asset, ddo, index), asset.publisher, None, f"{did[8:16]}-{index}")

    async def forget_inputs(self, method: str, path: str, headers: Any, job_id: str) -> None:
        """Called by a configure stage that has fetched everything: its inputs are forgotten."""
        await self._operator_request(method, path, headers)
        await run_in_threadpool(self.store.forget_job_inputs, job_id)

    async def compute_status(self, signed: models.Signed, job_id: str, did: str) -> list[JobStatus]:
        owner = await self._job_auth(signed, "computeStatus", job_id, did)
        params = {"owner": owner, "jobId": job_id, "did": did}
        return await self.operator.jobs("GET", "/compute", params={k: v for k, v in params.items() if v})

    async def compute_stop(self, signed: models.Signed, job_id: str, did: str) -> list[JobStatus]:
        owner = await self._job_auth(signed, "computeStop", job_id, did, need_job=True)
        return await self.operator.jobs("PUT", "/compute", body={"owner": owner, "jobId": job_id})

    async def compute_delete(self, signed: models.Signed, job_id: str, did: str) -> list[JobStatus]:
        owner = await self._job_auth(signed, "computeDelete", job_id, did, need_job=True)
        deleted = await self.operator.jobs("DELETE", "/compute", params={"owner": owner, "jobId": job_id})
        await run_in_threadpool(self.store.forget_job_inputs, job_id)
        return deleted

    async def compute_result(self, job_id: str, index: int, signed: models.Signed) -> Response:
        owner = await run_in_threadpool(self._verify, signed, "computeResult", "", job_id, index)
        params = {"owner": owner, "jobId": job_id, "index": index}
        return await self._relay(await self.operator.send("GET", "/getResult", params=params))

    async def compute_logs(self, signed: models.Signed, job_id: str) -> Response:
        owner = await self._job_auth(signed, "computeLogs", job_id, "", need_job=True)
        # The log is followed while the job runs: it may be silent for longer than any read timeout.
        params = {"owner": owner, "jobId": job_id}
        return await self._relay(await self.operator.send("GET", "/logs", params=params, read_timeout=None))

    async def environments(self) -> Any:
        return await self.operator.call("GET", "/environments")

    async def _job_auth(self, signed: models.Signed, action: str, job_id: str, did: str, need_job: bool = False) -> str:
        if need_job and not job_id:
            raise InvalidRequest("jobId is required", code="invalid_request")
        return await run_in_threadpool(self._verify, signed, action, did, job_id, 0)

    def _verify(self, signed: models.Signed, action: str, document_id: str, job_id: str, index: int) -> str:
        return str(
            self.auth.verify_request(
                signed.address,
                signed.nonce,
                signed.expiry,
                signed.signature,
                action,
                signed.params,
                document_id=document_id,
                job_id=job_id,
                index=index,
            )
        )

    @staticmethod
    async def _relay(upstream: httpx.Response) -> Response:
        headers = {k: v for k, v in upstream.headers.items() if k in ("content-length", "content-disposition")}

        async def body() -> Any:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:  # the operator broke off: end the response there
                log.warning("the operator broke off a stream: %s", type(exc).__name__)
            finally:
                await upstream.aclose()

        return StreamingResponse(body(), upstream.status_code, headers, upstream.headers.get("content-type"))


def _declared_checksums(ddo: DDO) -> dict[str, str]:
    return {str(f.index): f.checksum for f in ddo.main.files if f.checksum}


def _job_container(container: Container) -> JobContainer:
    """The container section as the job carries it (what the DDO or request adds beyond it stays)."""
    fields = {"entrypoint": container.entrypoint, "image": container.image, "tag": container.tag}
    return _job_part(JobContainer, **fields, checksum=container.checksum)


def _job_part(model: type[Part], **fields: Any) -> Part:
    """A part of the job from what the DDOs and the request hold; what the job cannot carry
    (a container beyond its limits, a file index out of range) is the client's 400."""
    try:
        return model(**fields)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        name = model.__name__.removesuffix("Spec").lower()
        raise InvalidRequest(
            f"the job cannot carry this {name}: {where} is not acceptable", code="invalid_job"
        ) from None


def _public_ddo(asset: Asset) -> dict[str, Any]:
    """The DDO as an algorithm may see it: without the encrypted file list."""
    ddo = json.loads(json.dumps(asset.ddo))
    for service in ddo.get("service", []):
        service.get("attributes", {}).pop("encryptedFiles", None)
    return ddo  # type: ignore[no-any-return]


def _datatoken(did: str) -> str:
    try:
        return str(datatoken_for(did))
    except ChainError as exc:
        raise from_chain_error(exc) from None


def _lengths(response: Response) -> tuple[int | None, int | None]:
    """The bytes this answer carries and the whole file's size, where the answer says them."""
    length = response.headers.get("content-length", "")
    if not length.isdigit():
        return None, None
    whole = response.headers.get("content-range", "").rpartition("/")[2]
    if response.status_code == 206:
        return int(length), int(whole) if whole.isdigit() else None
    return int(length), int(length)


async def _close(response: Response) -> None:
    if isinstance(response, StreamingResponse) and hasattr(response.body_iterator, "aclose"):
        await response.body_iterator.aclose()


async def _counted(chunks: Any, length: int, store: Store, key: tuple[str, str, int]) -> Any:
    """The answer's chunks; what was counted for it but not sent (the consumer went away) is
    counted back, so that the transfer can be continued from where it broke off."""
    sent = 0
    try:
        async for chunk in chunks:
            size = len(chunk)
            try:
                yield chunk
            finally:
                del chunk  # a view of a mapped file: released before the mapping closes
            sent += size
    finally:
        with anyio.CancelScope(shield=True):
            if hasattr(chunks, "aclose"):
                await chunks.aclose()
            await run_in_threadpool(store.unsent, *key, length - sent)


def _resumes(range_header: str | None) -> bool:
    """A single range `bytes=N-` or `bytes=N-M` with N > 0: the continuation of a download."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (range_header or "").strip())
    return match is not None and int(match.group(1)) > 0

"""What the provider does, route by route; the HTTP layer (routes.py) only parses and maps."""

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import Any

import anyio
import httpx
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from web3 import HTTPProvider, Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from c2d import __version__
from c2d.chain import Chain, ChainError, Deployment, datatoken_for, order_amount
from c2d.client import client_limits
from c2d.provider import models
from c2d.provider.auth import Auth
from c2d.provider.catalog import Catalog
from c2d.provider.compute import Compute
from c2d.provider.crypto import FileSpec, ProviderKey
from c2d.provider.ddo import DDO, PaidService, parse_ddo
from c2d.provider.errors import (
    Forbidden,
    NotFound,
    from_chain_error,
)
from c2d.provider.files import FileNotAllowed, FileReader, FileUnavailable, check_url, file_client, publisher_root
from c2d.provider.operator_client import OperatorClient
from c2d.provider.orders import OrderChecker
from c2d.provider.settings import ProviderSettings
from c2d.provider.store import Asset, Store

log = logging.getLogger("c2d.provider")

ASSET_CACHE_SIZE = 10_000  # parsed DDOs kept in memory
SETTLE_INTERVAL = 10.0  # seconds between two looks for unconfirmed jobs (at most half the grace)


class Provider:
    """The provider's state and operations, shared by every request. Its collaborators are made
    from the settings unless given: the chain, the store, the HTTP client of the operator service
    (an httpx transport behind it stands in for the operator) and that of the publishers' servers."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        chain: Chain | None = None,
        store: Store | None = None,
        operator_http: httpx.AsyncClient | None = None,
        file_http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.key = ProviderKey(settings.provider_key.get_secret_value())
        self.store = store or Store(settings.provider_database_url)
        if chain is None:
            w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.http_timeout}))
            chain = Chain(w3, Deployment.load(settings.addresses_file, settings.chain_id))
        self.chain = chain
        self._assets: OrderedDict[str, tuple[Asset, DDO]] = OrderedDict()
        self._assets_lock = threading.Lock()
        self.catalog = Catalog(self.chain, self.store, settings.index_interval, on_indexed=self._forget)
        self.auth = Auth(self.store, settings.chain_id, self.key.address)
        self.orders = OrderChecker(self.chain, self.store, settings.confirmations(), settings.order_uses)
        # the operator service
        self.http = operator_http or httpx.AsyncClient(timeout=settings.http_timeout, limits=client_limits())
        # the publishers' servers: each address checked (file_client)
        self.file_http = file_http or file_client(settings.http_timeout, settings.allow_private_urls)
        self.files = FileReader(settings.data_root, self.file_http, settings.allow_private_urls)
        self.operator = OperatorClient(settings.operator_url, self.key, self.http)
        self.compute = Compute(self)

    async def start(self) -> None:
        self.catalog.start()
        self._settler = asyncio.create_task(self._settle_forever())

    async def close(self) -> None:
        self._settler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._settler
        self.catalog.stop()
        await self.http.aclose()
        await self.file_http.aclose()
        self.store.close()

    async def _settle_forever(self) -> None:
        """Settles what a crash (of this provider, or another on the same store) or a lost
        answer left unconfirmed, once no request can still be creating it (admission_grace)."""
        grace = self.settings.admission_grace
        while True:
            await asyncio.sleep(min(SETTLE_INTERVAL, grace / 2))
            try:
                await self.compute.settle_unconfirmed(time.time() - grace)
            except Exception as exc:  # the store briefly unavailable: the next round
                log.warning("settling unconfirmed jobs failed: %s", type(exc).__name__)

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
            deployment=self.chain.deployment.record(),
            rpcUrl=self.settings.public_rpc_url,
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

    def verify(self, signed: models.Signed, action: str, document_id: str, job_id: str, index: int) -> str:
        """The consumer who signed `action` on this request (c2d.signing), or an error."""
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
        consumer = await run_in_threadpool(self.verify, signed, "download", did, "", file_index)
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

"""The provider's compute routes: a job checked (signatures, orders, every dataset's algorithm
policy) and built as a c2d.job.JobSpec for the operator service; then the job calls, passed on
for its owner; and the configure stages' input fetches."""

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from c2d.chain import VerifiedOrder
from c2d.job import (
    AlgorithmSpec,
    DatasetSpec,
    FilterSpec,
    JobSpec,
    JobStatus,
    PublishedAlgorithmSpec,
    RawAlgorithmSpec,
    Status,
)
from c2d.job import Container as JobContainer
from c2d.job.policy import DEFAULT as DEFAULT_POLICY
from c2d.job.policy import JobRecord, OutputPolicy, PoliciesTooLarge
from c2d.provider import models, parameters
from c2d.provider.ddo import DDO, Container, PaidService
from c2d.provider.errors import BadGateway, Forbidden, InvalidRequest, ProviderError, Unauthorized, Unavailable
from c2d.provider.operator_client import OperatorUnavailable
from c2d.provider.orders import OrderUsedUp
from c2d.provider.policy import (
    Algorithm,
    PublishedAlgorithm,
    RawAlgorithm,
    check_checksums,
    container_of,
    trust_decision,
)
from c2d.provider.store import ADMITTING, Admission, Asset
from c2d.signing import RequestRejected, service_nonce_fresh, verify_signed_request

if TYPE_CHECKING:
    from c2d.provider.service import Provider

log = logging.getLogger("c2d.provider")
Part = TypeVar("Part", bound=BaseModel)


class Compute:
    def __init__(self, provider: "Provider") -> None:
        self.p = provider

    async def start(self, req: models.ComputeStartRequest, signed: models.Signed) -> list[JobStatus]:
        datasets = [req.dataset, *req.additionalDatasets]
        if len({d.documentId for d in datasets}) != len(datasets):
            raise InvalidRequest("a dataset is listed twice", code="duplicate_dataset")
        checked = [await run_in_threadpool(self._dataset, d) for d in datasets]
        consumer = await run_in_threadpool(self.p.verify, signed, "computeStart", req.dataset.documentId, "", 0)
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
            order, _ = await run_in_threadpool(self.p.orders.check, dataset.transferTxId, asset, service, consumer)
            orders.append(order)
            job_datasets.append(
                _job_part(
                    DatasetSpec,
                    did=asset.did,
                    serviceId=service.index,
                    transferTxId=order.tx_hash,
                    files=[spec.index for spec in self.p.decrypted_files(asset, ddo)],
                    checksums=_declared_checksums(ddo),
                    ddo=_public_ddo(asset),
                    userData=_user_data(asset.did, service, dataset.userdata),
                )
            )
        privacy = [s.attributes.main.privacy for _, _, s in checked]
        policies = [_with_approvers(s.attributes.main.outputPolicy or DEFAULT_POLICY, a) for a, _, s in checked]
        try:
            output_policy = OutputPolicy.strictest(policies)
        except PoliciesTooLarge as exc:
            raise InvalidRequest(str(exc), code="policies_too_large") from None
        filters = await self._filters(output_policy, [a.publisher for a, _, _ in checked])
        job_id = uuid.uuid4().hex
        job = _job_part(
            JobSpec,
            jobId=job_id,
            owner=consumer,
            environment=req.environment,
            allowNetworkAccess=all(p is not None and p.allowNetworkAccess for p in privacy),
            datasets=job_datasets,
            algorithm=algo_spec,
            outputPolicy=output_policy,
            filters=filters,
        )
        inputs = job.dataset_dids + ([job.algorithm_did] if job.algorithm_did else []) + [f.did for f in filters]
        spec = job.model_dump(mode="json")
        held = [(str(order.tx_hash), str(order.datatoken)) for order in orders]
        unconfirmed = await run_in_threadpool(self._unconfirmed, consumer, held, spec)
        if unconfirmed is not None:  # this request again, after its answer was lost: the same job
            return await self._create(unconfirmed, first=False)
        used = await run_in_threadpool(self.p.store.admit, job_id, consumer, held, self.p.orders.max_uses, spec, inputs)
        if used is not None:
            token = dict(held)[used]
            yours = [
                a.job_id
                for a in await run_in_threadpool(self.p.store.admissions_of_order, used, token)
                if a.owner == consumer.lower()
            ]
            raise OrderUsedUp(
                f"the order {used} was already used {self.p.orders.max_uses} time(s)"
                + (f" (by your job {yours[-1]})" if yours else "")
                + "; start a new order"
            )
        return await self._create(Admission(job_id, consumer.lower(), spec, ADMITTING, time.time(), tuple(held)), True)

    def _unconfirmed(self, owner: str, held: list[tuple[str, str]], spec: dict[str, Any]) -> Admission | None:
        """An admission of this very request (the same owner, orders and job, but for its id)
        whose outcome its client may never have heard: a crash or a lost answer."""
        for admission in self.p.store.admissions_of_order(*held[0]):
            if (
                admission.state == ADMITTING
                and admission.owner == owner.lower()
                and set(admission.orders) == set(held)
                and _without_id(admission.spec) == _without_id(spec)
            ):
                return admission
        return None

    async def _create(self, admission: Admission, first: bool) -> list[JobStatus]:
        """Asks the operator service for the admitted job and settles the admission by its
        answer. `first`: no earlier attempt of this admission was sent."""
        query = {"owner": admission.owner, "jobId": admission.job_id}
        try:
            result = await self.p.operator.jobs("POST", "/compute", body=admission.spec)
        except Exception as exc:
            if isinstance(exc, ProviderError) and exc.code == "job_exists" and not first:
                result = await self.p.operator.jobs("GET", "/compute", params=query)
            else:
                created = await self._created_anyway(exc, admission, first)
                if created is None:
                    raise Unavailable(
                        f"the job {admission.job_id} may have been created, or not: send this request again, "
                        "with the same order, to get it (its orders are kept for it until then)",
                        code="job_unconfirmed",
                    ) from None
                await run_in_threadpool(self.p.store.settle, admission.job_id, created)
                if not created:
                    raise
                result = await self.p.operator.jobs("GET", "/compute", params=query)
        await run_in_threadpool(self.p.store.settle, admission.job_id, True)
        return result

    async def _created_anyway(self, exc: Exception, admission: Admission, first: bool) -> bool | None:
        """After a failed job creation: did the operator create the job anyway (a timeout, an
        error after it was stored, an earlier attempt)? None when that cannot be known now."""
        if isinstance(exc, OperatorUnavailable) and not exc.reached and first:
            return False  # refused before it reached the operator, and nothing was sent before
        if isinstance(exc, ProviderError) and not isinstance(exc, (OperatorUnavailable, BadGateway)):
            return False  # the operator refused this job (an earlier attempt would be job_exists)
        try:
            return await self._operator_has(admission)
        except ProviderError:
            return None

    async def _operator_has(self, admission: Admission) -> bool:
        params = {"owner": admission.owner, "jobId": admission.job_id}
        return bool(await self.p.operator.call("GET", "/compute", params=params))

    async def settle_unconfirmed(self, before: float) -> int:
        """Settles the admissions a crash or a lost answer left unconfirmed since before
        `before`: created if the operator has the job, else their orders' uses are given back.
        Those the operator cannot tell about now wait for the next round. Returns how many."""
        settled = 0
        for admission in await run_in_threadpool(self.p.store.admitting, before):
            try:
                created = await self._operator_has(admission)
            except ProviderError:
                continue
            if await run_in_threadpool(self.p.store.settle, admission.job_id, created):
                settled += 1
                log.info("job %s: admission settled after a lost answer: %s", admission.job_id,
                         "created" if created else "its orders given back")  # fmt: skip
        return settled

    async def _filters(self, policy: OutputPolicy, publishers: list[str]) -> list[FilterSpec]:
        """The publishers' own filters the job's policy names, found and checked like trusted
        algorithms (its files' and container section's checksums as the policy records them).
        A filter runs unordered and reads every input, and its verdict reaches the consumer
        unchecked: it must be published by the publisher of every dataset of the job."""
        if not policy.enabled:
            return []
        found = []
        for named_filter in policy.filters:
            asset, ddo = await run_in_threadpool(self.p.asset, named_filter.did)
            container = container_of(ddo)
            if any(asset.publisher.lower() != publisher.lower() for publisher in publishers):
                raise Forbidden(
                    f"the filter {asset.did} is not published by the publisher of every dataset of the job",
                    code="filter_not_allowed",
                )
            algorithm = PublishedAlgorithm(asset.did, asset.publisher, ddo, asset)
            checksums = await self._content_checksums(algorithm)
            trusted = named_filter.model_dump()
            try:
                check_checksums(trusted, algorithm, checksums)
            except Forbidden:
                raise Forbidden(
                    f"the filter {asset.did} changed since the policy named it", code="filter_checksum_mismatch"
                ) from None
            files = sorted(spec.index for spec in self.p.decrypted_files(asset, ddo))
            if len(files) != 1:
                raise InvalidRequest(f"the filter {asset.did} must have exactly one file", code="invalid_filter")
            found.append(
                _job_part(
                    FilterSpec,
                    did=asset.did,
                    files=files,
                    checksums={str(files[0]): checksums[0]},
                    container=_job_container(container),
                )
            )
        return found

    def _dataset(self, dataset: models.DatasetInput) -> tuple[Asset, DDO, PaidService]:
        asset, ddo = self.p.asset(dataset.documentId)
        if ddo.main.type != "dataset":
            raise InvalidRequest(f"{dataset.documentId} is not a dataset", code="not_a_dataset")
        return asset, ddo, ddo.paid_service(dataset.serviceId, "compute")

    async def _algorithm(
        self, spec: models.AlgorithmInput, consumer: str
    ) -> tuple[Algorithm, AlgorithmSpec, VerifiedOrder | None]:
        if spec.meta is not None:
            if spec.documentId is not None:
                raise InvalidRequest("give either a published algorithm or a raw one", code="invalid_algorithm")
            if len(spec.meta.rawcode.encode()) > self.p.settings.max_raw_algorithm_bytes:
                raise InvalidRequest("the raw algorithm is too large", code="algorithm_too_large")
            container = spec.meta.container
            raw = RawAlgorithm(spec.meta.rawcode, container)
            return (
                raw,
                _job_part(
                    RawAlgorithmSpec,
                    rawcode=spec.meta.rawcode,
                    container=_job_container(container),
                    customData=parameters.free_values(spec.algocustomdata, "the raw algorithm"),
                ),
                None,
            )
        if spec.documentId is None or spec.serviceId is None or spec.transferTxId is None:
            raise InvalidRequest(
                "a published algorithm needs documentId, serviceId and transferTxId", code="invalid_algorithm"
            )
        asset, ddo = await run_in_threadpool(self.p.asset, spec.documentId)
        container = container_of(ddo)
        assert ddo.main.algorithm is not None
        declared = (ddo.main.algorithm.model_extra or {}).get("consumerParameters")
        where = f"the algorithm {asset.did}"
        custom = parameters.values(parameters.declared(declared, where), spec.algocustomdata, where)
        service = ddo.paid_service(spec.serviceId, "access")
        order, _ = await run_in_threadpool(self.p.orders.check, spec.transferTxId, asset, service, consumer)
        published = PublishedAlgorithm(asset.did, asset.publisher, ddo, asset)
        job_spec = _job_part(
            PublishedAlgorithmSpec,
            did=asset.did,
            serviceId=service.index,
            transferTxId=order.tx_hash,
            container=_job_container(container),
            customData=custom,
            files=sorted(spec.index for spec in self.p.decrypted_files(asset, ddo)),
            checksums=_declared_checksums(ddo),
            ddo=_public_ddo(asset),
        )
        return published, job_spec, order

    async def _content_checksums(self, algorithm: PublishedAlgorithm) -> list[str]:
        specs = sorted(self.p.decrypted_files(algorithm.asset, algorithm.ddo), key=lambda s: s.index)
        return [await self.p.files.sha256(spec, algorithm.publisher) for spec in specs]

    async def _operator_request(self, method: str, path: str, headers: Any) -> None:
        """A request of a configure stage: signed by a trusted operator, with a fresh nonce."""
        try:
            signer, nonce = verify_signed_request(method, path, b"", headers, self.p.settings.operator_addresses)
        except RequestRejected as exc:
            raise Forbidden(exc.message, code=exc.code) from None
        if not service_nonce_fresh(nonce):
            raise Unauthorized("the request's nonce is not the current time", code="nonce_out_of_range")
        if not await run_in_threadpool(self.p.store.take_operator_nonce, signer, nonce):
            raise Unauthorized("the request's nonce was used before", code="nonce_reused")

    async def input(self, method: str, path: str, headers: Any, job_id: str, did: str, index: int) -> Response:
        """A job input for an operator's configure stage: signed by a trusted operator, only for
        an asset the job was started with, and only while that job is configuring (the operator
        service says so); a job past configuring has its inputs forgotten."""
        await self._operator_request(method, path, headers)
        if not await run_in_threadpool(self.p.store.is_job_input, job_id, did):
            raise Forbidden("this asset is not an input of that job", code="not_a_job_input")
        stage = await self.p.operator.call("GET", "/jobStage", params={"jobId": job_id})
        if stage.get("status") != Status.CONFIGURING:
            if stage.get("status") is None or stage["status"] > Status.CONFIGURING:
                await run_in_threadpool(self.p.store.forget_job_inputs, job_id)
            raise Forbidden("that job is not configuring", code="job_not_configuring")
        asset, ddo = await run_in_threadpool(self.p.asset, did)
        spec = self.p.file(asset, ddo, index)
        return await self.p.files.response(spec, asset.publisher, None, f"{did[8:16]}-{index}")

    async def forget_inputs(self, method: str, path: str, headers: Any, job_id: str) -> None:
        """Called by a configure stage that has fetched everything: its inputs are forgotten."""
        await self._operator_request(method, path, headers)
        await run_in_threadpool(self.p.store.forget_job_inputs, job_id)

    async def status(self, signed: models.Signed, job_id: str, did: str) -> list[JobStatus]:
        owner = await self._job_auth(signed, "computeStatus", job_id, did)
        params = {"owner": owner, "jobId": job_id, "did": did}
        return await self.p.operator.jobs("GET", "/compute", params={k: v for k, v in params.items() if v})

    async def stop(self, signed: models.Signed, job_id: str, did: str) -> list[JobStatus]:
        owner = await self._job_auth(signed, "computeStop", job_id, did, need_job=True)
        return await self.p.operator.jobs("PUT", "/compute", body={"owner": owner, "jobId": job_id})

    async def delete(self, signed: models.Signed, job_id: str, did: str) -> list[JobStatus]:
        owner = await self._job_auth(signed, "computeDelete", job_id, did, need_job=True)
        deleted = await self.p.operator.jobs("DELETE", "/compute", params={"owner": owner, "jobId": job_id})
        await run_in_threadpool(self.p.store.forget_job_inputs, job_id)
        return deleted

    async def result(self, job_id: str, index: int, signed: models.Signed) -> Response:
        owner = await run_in_threadpool(self.p.verify, signed, "computeResult", "", job_id, index)
        return await self.result_of(owner, job_id, index)

    async def result_of(self, owner: str, job_id: str, index: int) -> Response:
        """Result `index` of `owner`'s job, streamed from the operator (the owner already known)."""
        params = {"owner": owner, "jobId": job_id, "index": index}
        return await self._relay(await self.p.operator.send("GET", "/getResult", params=params))

    async def logs(self, signed: models.Signed, job_id: str, follow: bool = True) -> Response:
        owner = await self._job_auth(signed, "computeLogs", job_id, "", need_job=True)
        return await self.logs_of(owner, job_id, follow)

    async def logs_of(self, owner: str, job_id: str, follow: bool = True) -> Response:
        """The algorithm's log of `owner`'s job, streamed from the operator (the owner already known)."""
        # The log is followed while the job runs: it may be silent for longer than any read timeout.
        params: dict[str, Any] = {"owner": owner, "jobId": job_id}
        if not follow:
            params["follow"] = "false"
        return await self._relay(await self.p.operator.send("GET", "/logs", params=params, follow=True))

    async def record(self, signed: models.Signed, job_id: str) -> JobRecord:
        """The job's record, for an approver of the job or the publisher of all its datasets."""
        signer = await run_in_threadpool(self.p.verify, signed, "computeRecord", "", job_id, 0)
        record = await self._record(job_id)
        if not await run_in_threadpool(self._may_see, record, signer):
            raise Forbidden(
                "only an approver of the job, or the publisher of all its datasets, sees its record",
                code="not_publisher",
            )
        return record

    async def approve(self, req: models.ComputeApprovalRequest, signed: models.Signed) -> JobRecord:
        """An approver's decision, passed on to the operator (which knows the job's approvers)."""
        signer = await run_in_threadpool(self.p.verify, signed, "computeApproval", "", req.jobId, 0)
        reason = "".join(c if c.isprintable() else " " for c in req.reason).strip()
        body = {"jobId": req.jobId, "approver": signer, "decision": req.decision, "reason": reason}
        return _record(await self.p.operator.call("PUT", "/approval", body=body))

    async def _record(self, job_id: str) -> JobRecord:
        return _record(await self.p.operator.call("GET", "/record", params={"jobId": job_id}))

    def _may_see(self, record: JobRecord, signer: str) -> bool:
        """An approver of the job, or the publisher of every one of its datasets: the record
        names what the algorithm wrote after reading all of them."""
        if signer.lower() in record.outputPolicy.approval.approvers:
            return True
        for did in record.datasets:
            try:
                asset, _ = self.p.asset(did)
            except ProviderError:
                return False
            if asset.publisher.lower() != signer.lower():
                return False
        return bool(record.datasets)

    async def environments(self) -> Any:
        return await self.p.operator.call("GET", "/environments")

    async def _job_auth(self, signed: models.Signed, action: str, job_id: str, did: str, need_job: bool = False) -> str:
        if need_job and not job_id:
            raise InvalidRequest("jobId is required", code="invalid_request")
        return await run_in_threadpool(self.p.verify, signed, action, did, job_id, 0)

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


def _with_approvers(policy: OutputPolicy, asset: Asset) -> OutputPolicy:
    """A policy requiring approval names who approves: the dataset's publisher unless it says."""
    approval = policy.approval
    if not approval.required or approval.approvers:
        return policy
    return policy.model_copy(update={"approval": approval.model_copy(update={"approvers": [asset.publisher.lower()]})})


def _record(answer: Any) -> JobRecord:
    try:
        return JobRecord.model_validate(answer)
    except ValidationError:
        raise BadGateway("the operator service answered with no job record", code="operator_failed") from None


def _user_data(did: str, service: PaidService, given: dict[str, Any] | None) -> dict[str, Any]:
    where = f"the dataset {did}"
    declared = (service.attributes.main.model_extra or {}).get("consumerParameters")
    return parameters.values(parameters.declared(declared, where), given, where)


def _declared_checksums(ddo: DDO) -> dict[str, str]:
    return {str(f.index): f.checksum for f in ddo.main.files if f.checksum}


def _job_container(container: Container) -> JobContainer:
    """The container section as the job carries it (what the DDO or request adds beyond it stays)."""
    fields = {"entrypoint": container.entrypoint, "image": container.image, "tag": container.tag}
    checksum = container.checksum
    if checksum and ":" not in checksum:  # Ocean's DDOs say sha256:<hex>; a bare digest means the same
        checksum = f"sha256:{checksum}"
    return _job_part(JobContainer, **fields, checksum=checksum or None)


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


def _without_id(spec: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in spec.items() if name != "jobId"}

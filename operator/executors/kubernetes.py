"""The kubernetes executor: one batch/v1 Job per stage in the jobs namespace, and the job's
WorkFlow custom resource (see c2d.operator.workflows).

Stage pods: labels `workflow=<jobId>`, `component=<stage>`; non-root, no privilege escalation,
every capability dropped, read-only root filesystem with a private /tmp, RuntimeDefault seccomp,
no service-account token, no service links; the algorithm's requests = limits from the environment
(Guaranteed), configure's and publish's small requests under the same limits (Burstable: they
are started with the algorithm, c2d.operator.executors.base, and mostly wait);
`activeDeadlineSeconds` from the stage's time limit and its wait. The algorithm pod runs its own image (by
digest when its container declares one, with the environment's pull policy, pull Secret and
GPUs) and has no network unless its asset and environment allow it. The job directory is
shared through a volume (a PVC, or a hostPath of the engine's jobs_dir) mounted per stage as in
c2d.operator.executors.base.
The algorithm's outputs have a hard size (the environment's diskMb): a claim per job from the
storage class kube_outputs_class, mounted by the algorithm and publish and deleted with the job's
inputs; or the engine's loop volume in a hostPath jobs directory (c2d.operator.executors.quota).

The engine follows each stage's pod and ends it by what happened (configure and publish end sooner,
by their signals in the job directory: the kubelet reports a container's end only at its next
relist, up to a second later): exit code, OOMKilled (43),
deadline exceeded (42), evicted or an image that cannot be pulled (the stage fails with that
reason). A stop request deletes the stage's Job and pods at once (grace period 0). The stage's
log is copied from the pod into the job's logs, then its Job and pods are deleted. An engine that
restarts follows the stage Jobs that exist instead of starting them again.
"""

import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any, cast

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from c2d.job import Outcome, layout
from c2d.operator.environments import Environment
from c2d.operator.executors.base import (
    STAGE_LOG_BYTES,
    STAGE_UID,
    STAGES,
    ContainerExecutor,
    ExecutorUnavailable,
    IsolationUnavailable,
    Mount,
    StagePlan,
)
from c2d.operator.executors.logs import FollowedLog
from c2d.operator.executors.pods import START_ALLOWANCE, pod_outcome, running_for
from c2d.operator.kubeapi import api_client
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import Job

log = logging.getLogger("c2d.operator.executors.kubernetes")

POLL = 0.05
REFUSED_AFTER = 2.0  # seconds without a pod before the Job's events are looked at
REFUSED_POLL = 2.0
STAGE_REQUESTS = {"cpu": "100m", "memory": "64Mi"}
SETTLE_SECONDS = 5  # configure's pod, for its end to be seen (its log complete)
# Reading an ended stage's log: found by stopping the kubelet under a running job, whose stage
# then waited for ever on a log read the API server passed to the silent kubelet.
LOG_CONNECT_SECONDS, LOG_READ_SECONDS = 10, 30
FOLLOW_END_SECONDS = 30  # for a followed log to end once its container has
CLAIM_SECONDS = 120  # a job's earlier outputs claim is waited for this long to go
GRACE = 2  # seconds between SIGTERM and SIGKILL for stage pods (a PID-1 python ignores SIGTERM)
SECRET_KEY = "operator-key"  # noqa: S105 (a key name in the Secret)
KEY_MOUNT = "/run/c2d-key"  # configure's: the Secret's volume
OPERATOR_KEY_FILE_ENV = "C2D_OPERATOR_KEY_FILE"


PROBE_SECONDS = 120.0
PID_PROBE = """
import sys, threading, time
most, started = int(sys.argv[1]), 0
try:
    for _ in range(most):
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print(started, flush=True)
"""


class KubernetesExecutor(ContainerExecutor):
    def __init__(self, settings: OperatorSettings) -> None:
        super().__init__(settings)
        self.api = api_client(settings)
        # Manifests are plain dicts and results are read field by field: Any keeps them simple.
        self.core: Any = client.CoreV1Api(self.api)
        self.batch: Any = client.BatchV1Api(self.api)
        self.ns = settings.kube_namespace
        # The algorithm's hard disk quota (its outputs): a claim of the environment's diskMb per
        # job from kube_outputs_class; or, when the engine shares the node's jobs directory (a
        # hostPath), the engine's loop volume as on the other executors (as root only); or none,
        # and publish's output limit bounds what is kept. /tmp and the log: ephemeral-storage.
        self.claims = bool(settings.kube_outputs_class)
        self.volumes = not self.claims and not settings.kube_jobs_claim

    def check(self) -> None:
        try:
            client.VersionApi(self.api).get_code(_request_timeout=20)
            self.batch.list_namespaced_job(self.ns, limit=1, _request_timeout=20)
        except ApiException as exc:
            raise ExecutorUnavailable(
                f"the kubernetes executor may not use namespace {self.ns}: {exc.status} {exc.reason}"
            ) from None
        except Exception as exc:  # no route, refused, TLS: the API server is not reachable
            why = type(exc).__name__
            raise ExecutorUnavailable(f"the kubernetes executor cannot reach the cluster: {why}") from None
        if self.settings.kube_max_pod_pids:
            self._check_pid_limit(self.settings.kube_max_pod_pids)

    def _check_pid_limit(self, most: int) -> None:
        """A node requirement, checked: an algorithm pod's processes are bounded by the kubelet's
        pod PID limit only (Kubernetes has no per-pod field for an environment's maxProcesses).
        A probe pod, locked down as algorithms are, starts up to `most` threads (each one a task
        of the pod's pids cgroup); reaching them all means the nodes' limit is missing or above."""
        probe = cast(Job, SimpleNamespace(id=f"pid-probe-{uuid.uuid4().hex[:12]}"))
        plan = StagePlan(
            stage="algorithm",
            image=self.settings.image("algorithm-python"),
            command=["python3", "-c", PID_PROBE, str(most)],
            env={},
            mounts=[],
            network=False,
            cpu=1.0,
            memory_mb=256,
            processes=most,
            tmp_mb=16,
            seconds=60,
        )
        try:
            self.batch.create_namespaced_job(self.ns, self.manifest(probe, plan))
            deadline = time.monotonic() + PROBE_SECONDS
            phase, pod = "", None
            while phase not in ("Succeeded", "Failed"):
                if time.monotonic() > deadline:
                    raise ExecutorUnavailable(f"the pod PID limit probe did not finish within {PROBE_SECONDS:.0f} s")
                time.sleep(0.5)
                pods = self.core.list_namespaced_pod(self.ns, label_selector=f"workflow={probe.id}").items
                pod = pods[0] if pods else None
                phase = (pod.status.phase if pod and pod.status else "") or ""
            assert pod is not None
            said = self.core.read_namespaced_pod_log(
                pod.metadata.name, self.ns, container="algorithm", limit_bytes=4096
            )
        except ApiException as exc:
            raise ExecutorUnavailable(f"the pod PID limit probe could not run: {exc.status} {exc.reason}") from None
        finally:
            with contextlib.suppress(ApiException):
                self._delete(probe.id, None)
        words = str(said).split()
        started = int(words[-1]) if words and words[-1].isdigit() else -1
        if started < 0:
            raise ExecutorUnavailable("the pod PID limit probe said nothing readable")
        if started >= most:
            raise ExecutorUnavailable(
                f"a pod on this cluster can run {most} or more processes: set the kubelet's podPidsLimit "
                f"(--pod-max-pids) below {most} on the nodes (C2D_KUBE_MAX_POD_PIDS=0 skips this check)"
            )
        log.info("a pod may run about %d processes here (the nodes' pod PID limit)", started + 1)

    def _under_way(self, job: Job, stage: str) -> bool:
        return self._read_job(_name(job, stage)) is not None

    def remove(self, job: Job) -> None:
        self._delete(job.id, None)
        if self.claims:
            self._delete_claim(job)
        super().remove(job)

    # ---- the outputs claim (kube_outputs_class) ----

    def mount_outputs(self, job: Job, env: Environment, owner: int | None) -> None:
        if not self.claims:
            super().mount_outputs(job, env, owner)
            return
        name = _outputs_claim(job)
        body = {
            "metadata": {"name": name, "labels": {"workflow": job.id, "app.kubernetes.io/part-of": "c2d"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": self.settings.kube_outputs_class,
                "resources": {"requests": {"storage": f"{env.disk_mb}Mi"}},
            },
        }
        deadline = time.monotonic() + CLAIM_SECONDS
        while True:  # a claim of the job's earlier run may still be going (its pod was just deleted)
            try:
                self.core.create_namespaced_persistent_volume_claim(self.ns, body)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise IsolationUnavailable(
                        f"the outputs volume could not be claimed: {exc.status} {exc.reason}"
                    ) from None
            if time.monotonic() > deadline:
                raise IsolationUnavailable(f"the job's earlier outputs volume was not gone after {CLAIM_SECONDS} s")
            self._delete_claim(job)
            time.sleep(POLL)

    def drop_outputs(self, job: Job) -> None:
        super().drop_outputs(job)
        if self.claims:
            self._delete_claim(job)

    def _claim_exists(self, job: Job) -> bool:
        try:
            claim = self.core.read_namespaced_persistent_volume_claim(_outputs_claim(job), self.ns)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return claim.metadata.deletion_timestamp is None

    def _delete_claim(self, job: Job) -> None:
        with contextlib.suppress(ApiException):  # 404: already gone
            self.core.delete_namespaced_persistent_volume_claim(_outputs_claim(job), self.ns)

    # ---- manifests ----

    def manifest(self, job: Job, p: StagePlan, claimed: bool = True) -> dict[str, Any]:
        """The stage's Job; `claimed`: the job's outputs claim exists (with kube_outputs_class)."""
        labels = {"workflow": job.id, "component": p.stage, "app.kubernetes.io/part-of": "c2d"}
        if p.stage == "algorithm" and p.network:
            labels["c2d.dev/network"] = "allowed"  # what the deployment's NetworkPolicy lets out
        loopback = self.settings.kube_loopback
        host_network = p.network and loopback
        within = ""  # where jobs_dir is in the volume
        if self.settings.kube_jobs_claim:
            volume: dict[str, Any] = {"persistentVolumeClaim": {"claimName": self.settings.kube_jobs_claim}}
            within = self.settings.kube_jobs_subpath.strip("/")
        else:
            volume = {"hostPath": {"path": str(self.jobs_dir), "type": "Directory"}}
        sources = list(p.mounts)
        if p.stage in ("filter", "publish"):  # a subPath is bound alone: the outputs volume named again in /job
            sources.append(Mount(layout.OUTPUTS, f"{p.mounts[0].target}/{layout.OUTPUTS}", p.stage == "filter"))
        claim = self.claims and claimed and any(m.source == layout.OUTPUTS for m in sources)
        mounts: list[dict[str, Any]] = [
            {"name": "outputs", "mountPath": m.target, "readOnly": m.read_only}
            if claim and m.source == layout.OUTPUTS
            else {
                "name": "jobs",
                "mountPath": m.target,
                "subPath": "/".join(part for part in (within, job.id, m.source.strip("/")) if part),
                "readOnly": m.read_only,
            }
            for m in sources
        ]
        mounts.append({"name": "tmp", "mountPath": "/tmp"})  # noqa: S108 (the container's own)
        mounts.append({"name": "shm", "mountPath": "/dev/shm"})  # noqa: S108 (the container's own)
        env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in p.env.items()]
        if p.secret_env:  # the key as a file of a Secret's volume, never in the environment
            env.append({"name": OPERATOR_KEY_FILE_ENV, "value": f"{KEY_MOUNT}/{SECRET_KEY}"})
            mounts.append({"name": "operator-key", "mountPath": KEY_MOUNT, "readOnly": True})
        resources = {"cpu": f"{int(p.cpu * 1000)}m", "memory": f"{p.memory_mb}Mi"}
        if p.gpus:  # an extended resource: requested = limit, scheduled only where the nodes have it
            resources[p.gpu_resource] = str(p.gpus)
        # The algorithm is Guaranteed (requests = limits); configure and publish, mostly waiting
        # for their signals beside it, ask for a little and are bounded as before.
        requests = resources if p.stage == "algorithm" else STAGE_REQUESTS
        pod: dict[str, Any] = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": GRACE,
            "hostNetwork": host_network,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": STAGE_UID,
                "runAsGroup": STAGE_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": p.stage,
                    "image": p.image,
                    "imagePullPolicy": _pull_policy(p, loopback),
                    "command": p.command,
                    "workingDir": p.workdir,
                    "env": env,
                    "volumeMounts": mounts,
                    "resources": {
                        "requests": requests,
                        "limits": {**resources, "ephemeral-storage": f"{p.scratch_mb}Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                    },
                }
            ],
            "volumes": [
                {"name": "jobs", **volume},
                *(
                    [
                        {
                            "name": "operator-key",
                            # 0444: the pod's only user reads it (no fsGroup on the jobs volume)
                            "secret": {
                                "secretName": self.settings.kube_operator_key_secret,
                                "items": [{"key": SECRET_KEY, "path": SECRET_KEY}],
                                "defaultMode": 0o444,
                            },
                        }
                    ]
                    if p.secret_env
                    else []
                ),
                {"name": "tmp", "emptyDir": {"sizeLimit": f"{p.tmp_mb}Mi"}},
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{p.shm_mb}Mi"}},
            ],
        }
        if p.container and p.pull_secret and not loopback:
            pod["imagePullSecrets"] = [{"name": p.pull_secret}]
        if p.runtime == "gvisor":
            pod["runtimeClassName"] = self.settings.kube_gvisor_class
        if p.gpus:  # GPU nodes are tainted so that nothing else lands there (the stack's GPU pools)
            pod["tolerations"] = [{"key": p.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]
        if claim:  # the claim's file system is the stage user's through the pod's group
            pod["volumes"].append({"name": "outputs", "persistentVolumeClaim": {"claimName": _outputs_claim(job)}})
            pod["securityContext"].update(fsGroup=STAGE_UID, fsGroupChangePolicy="OnRootMismatch")
        if host_network:
            pod["dnsPolicy"] = "ClusterFirstWithHostNet"
        elif not p.network:  # nothing to resolve, nowhere to ask
            pod["dnsPolicy"] = "None"
            pod["dnsConfig"] = {"nameservers": ["127.0.0.1"]}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": _name(job, p.stage), "namespace": self.ns, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                # The cluster's backstop; the engine ends the stage at p.seconds of running time.
                "activeDeadlineSeconds": p.seconds + _start_seconds(p) + p.wait_seconds,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        }

    # ---- one stage ----

    def _read_job(self, name: str) -> Any:
        try:
            return self.batch.read_namespaced_job(name, self.ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _start(self, job: Job, p: StagePlan) -> Outcome | None:
        try:
            # publish reads the claim while it exists (a job the class came after has none)
            claimed = self.claims and (p.stage not in ("filter", "publish") or self._claim_exists(job))
            self.batch.create_namespaced_job(self.ns, self.manifest(job, p, claimed))
        except ApiException as exc:
            if exc.status != 409:  # 409: a leftover of an interrupted run, followed
                return Outcome.failed(f"could not start: the cluster refused its Job ({exc.status} {exc.reason})")
        return None

    def _discard(self, job: Job, stages: Iterable[str]) -> None:
        stages = list(stages)
        if set(stages) >= set(STAGES):
            self._delete(job.id, None)
            return
        for stage in stages:
            self._delete(job.id, stage)

    def _settle(self, job: Job) -> None:
        """Configure's Job, left when its signal ended it (its pod's end is seen a relist
        later): its log is copied now, then it goes."""
        if self._read_job(_name(job, "configure")) is None:
            return
        pod = self._newest_pod(job, "configure")
        deadline = time.monotonic() + SETTLE_SECONDS
        while pod is not None and time.monotonic() < deadline and pod_outcome(pod, 0.0) is None:
            time.sleep(POLL)  # its last lines: the container's end is what says they are all in
            pod = self._newest_pod(job, "configure")
        if pod is not None:
            self._copy_pod_log(job, "configure", STAGE_LOG_BYTES, pod.metadata.name)
        self._delete(job.id, "configure")

    def _run(
        self, job: Job, p: StagePlan, should_stop: Callable[[], bool], started_hook: Callable[[], None] | None = None
    ) -> Outcome:
        name = _name(job, p.stage)
        started = time.monotonic()
        existing = self._read_job(name)
        if existing is None and (failed := self._start(job, p)):
            return failed
        if existing is not None and existing.status and existing.status.start_time:
            began = max(existing.status.start_time.timestamp(), self.since(job, p.stage) or 0.0)
            started -= max(0.0, time.time() - began)
        if started_hook:
            started_hook()
        signal = {"configure": layout.CONFIGURED, "filter": layout.FILTERED, "publish": layout.PUBLISHED}.get(p.stage)
        job_dir = self.job_dir(job)
        outcome: Outcome | None = None
        pod_name = None
        next_look = 0.0
        followed: FollowedLog | None = None
        while outcome is None:
            if should_stop():
                self._delete(job.id, p.stage)
                if followed is not None:
                    followed.finish(FOLLOW_END_SECONDS)
                return Outcome.stop(time.monotonic() - started)
            elapsed = time.monotonic() - started
            # A stage's own signal ends it before the kubelet reports its end (a relist later).
            folder = layout.FILTER_DIR if p.stage == "filter" else layout.SIGNALS
            given = layout.signalled(job_dir, signal, folder) if signal else None
            if given is not None and p.stage == "configure":
                return Outcome.exited(0, elapsed)  # given on success only; its log and Job: see _settle
            if given is not None:
                outcome = (
                    Outcome.exited(int(given), elapsed)
                    if given.isdigit()
                    else Outcome.failed("gave an unreadable exit code", elapsed)
                )
                pod = self._newest_pod(job, p.stage)
                pod_name = pod.metadata.name if pod is not None else None
                break
            pod = self._newest_pod(job, p.stage)
            if pod is not None:
                pod_name = pod.metadata.name
                outcome = pod_outcome(pod, elapsed, p.start_seconds if p.container else None)
                if followed is None and p.stage == "algorithm" and _started(pod):
                    followed = self._follow(job, p, pod_name)  # a followed job's log, as it comes
            if outcome is None:
                outcome = self._job_outcome(name, elapsed)
            if outcome is None and pod is None and elapsed > REFUSED_AFTER and time.monotonic() > next_look:
                next_look = time.monotonic() + REFUSED_POLL
                outcome = self._refused(name, elapsed)
            if outcome is None and pod_name and self._running_for(job, p, pod) > p.seconds:
                self._delete(job.id, p.stage)  # its time is up: the same limit as the local executor's
                outcome = Outcome.timeout(elapsed)
            if outcome is None and elapsed > p.seconds + _start_seconds(p) + p.wait_seconds + 30:
                outcome = Outcome.timeout(elapsed)  # the cluster never ended it
            if outcome is None:
                time.sleep(POLL)
        if outcome.unprovisioned and p.container and p.container.checksum:
            outcome = dataclasses.replace(outcome, detail=f"{outcome.detail} (declared digest {p.container.checksum})")
        cut = 0
        if followed is not None and followed.finish(FOLLOW_END_SECONDS):
            cut = followed.cut
        elif pod_name:  # not followed, or the follow broke off: the whole log now
            cut = self._copy_pod_log(job, p.stage, p.log_bytes, pod_name)
        self._delete(job.id, p.stage)  # the pod has ended: nothing to wait for
        return outcome.with_log_cut(cut)

    def _running_for(self, job: Job, p: StagePlan, pod: Any) -> float:
        """The stage's own running time: from its container's start, or its signal's if later."""
        ran = running_for(pod)
        since = self.since(job, p.stage)
        return min(ran, max(0.0, time.time() - since)) if since and ran else ran

    def _newest_pod(self, job: Job, stage: str) -> Any:
        """The stage's latest pod, or None."""
        selector = f"workflow={job.id},component={stage}"
        pods = self.core.list_namespaced_pod(self.ns, label_selector=selector).items
        return max(pods, key=lambda item: item.metadata.creation_timestamp) if pods else None

    def _refused(self, name: str, elapsed: float) -> Outcome | None:
        """A stage's Job whose pod the cluster will not create (a LimitRange, an admission
        policy): ends the stage at once, rather than at its time bound. A quota exceeded for now
        is waited out (the Job controller creates the pod once there is room)."""
        try:
            kube_job = self._read_job(name)
            if kube_job is None:
                return None
            selector = (
                f"involvedObject.uid={kube_job.metadata.uid},reason=FailedCreate"  # this Job's, not an earlier one's
            )
            events = self.core.list_namespaced_event(self.ns, field_selector=selector).items
        except ApiException:
            return None  # no right to look (an older role): the stage's time bound still ends it
        for event in events:
            message = str(event.message or "")
            if "exceeded quota" in message or "serviceaccount" in message or "webhook" in message:
                continue  # for now: the Job controller tries again
            log.warning("%s: the cluster refuses its pod: %s", name, message[:500])
            return Outcome.failed(
                "could not start: the cluster refused its pod (a LimitRange or an admission policy)", elapsed
            )
        return None

    def _job_outcome(self, name: str, elapsed: float) -> Outcome | None:
        kube_job = self._read_job(name)
        if kube_job is None:
            return Outcome.failed("disappeared: its Job was deleted", elapsed)
        for condition in (kube_job.status and kube_job.status.conditions) or []:
            if condition.type == "Failed" and condition.status == "True":
                if condition.reason == "DeadlineExceeded":
                    return Outcome.timeout(elapsed)
                return Outcome.failed(f"failed: {condition.reason}: {condition.message or ''}".strip(), elapsed)
        return None

    def _follow(self, job: Job, p: StagePlan, pod: str) -> FollowedLog:
        """The pod's log copied into the stage's log while it runs (the API server's follow),
        at most its limit; the follow ends when the container does."""
        opened: list[Any] = []

        def copy() -> int:
            response = self.core.read_namespaced_pod_log(
                pod, self.ns, container=p.stage, follow=True, limit_bytes=p.log_bytes + 1, _preload_content=False
            )
            opened.append(response)
            try:
                return self.copy_log(job, p.stage, response, p.log_bytes, counted=False)
            finally:
                response.release_conn()

        def stop() -> None:
            for response in opened:
                # The copy's read is woken first: a close waits for the read's lock, which a read
                # from a silent kubelet holds for good.
                with contextlib.suppress(Exception):
                    response.shutdown()
                response.close()

        return FollowedLog(copy, stop)

    def _copy_pod_log(self, job: Job, stage: str, limit: int, pod: str) -> int:
        """The stage's log from its pod, streamed, at most its limit (the API server is asked for
        one byte more, to know whether there was more); the bytes cut (1: some, how many unknown)."""
        try:
            # Bounded in time: the log comes from the pod's kubelet, which may have stopped answering.
            response = self.core.read_namespaced_pod_log(
                pod, self.ns, container=stage, limit_bytes=limit + 1, _preload_content=False,
                _request_timeout=(LOG_CONNECT_SECONDS, LOG_READ_SECONDS),
            )  # fmt: skip
            try:
                cut = self.copy_log(job, stage, response, limit, counted=False)
            finally:
                response.release_conn()
            return cut
        except (ApiException, ValueError, OSError, urllib3.exceptions.HTTPError) as exc:
            why = f"{exc.status} {exc.reason}" if isinstance(exc, ApiException) else type(exc).__name__
            self.write_log(job, stage, f"(the stage's log could not be read: {why})\n".encode())
            return 0

    def _delete(self, job_id: str, stage: str | None) -> None:
        """Deletes a stage's (or every stage's) Job and pods at once: a stopped stage must end now,
        and an ended one has nothing to wait for (a pod that never started stays Terminating for
        good on a graceful delete)."""
        grace = 0
        selector = f"workflow={job_id}" + (f",component={stage}" if stage else "")
        body = client.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=grace)
        for kube_job in self.batch.list_namespaced_job(self.ns, label_selector=selector).items:
            try:
                self.batch.delete_namespaced_job(kube_job.metadata.name, self.ns, body=body)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        self.core.delete_collection_namespaced_pod(self.ns, label_selector=selector, grace_period_seconds=grace)


PULL_POLICIES = {"never": "Never", "if-not-present": "IfNotPresent", "always": "Always"}


def _pull_policy(p: StagePlan, loopback: bool) -> str:
    """The algorithm's image as its environment says (by digest, a pull cannot bring another
    image); c2d's own if not present. A loopback cluster has no registry: never."""
    if loopback:
        return "Never"
    return PULL_POLICIES[p.pull] if p.container else "IfNotPresent"


def _started(pod: Any) -> bool:
    """The stage's container has started (it runs, or ran): its log can be followed."""
    for container in (pod.status and pod.status.container_statuses) or []:
        state = container.state
        if state and (state.running or state.terminated):
            return True
    return False


def _start_seconds(p: StagePlan) -> int:
    return p.start_seconds if p.container else START_ALLOWANCE


def _name(job: Job, stage: str) -> str:
    return f"{job.id}-{stage}"


def _outputs_claim(job: Job) -> str:
    return f"{job.id}-outputs"

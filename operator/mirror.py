"""Each job's WorkFlow (c2d.operator.workflows) kept in step with the job store, for the
kubernetes executor: the composition root hands a WorkFlowMirror to the JobStore as its events
(c2d.operator.store.JobEvents). A job is stored only once its WorkFlow exists; every later
change is written to the WorkFlow best effort (the store stays the record)."""

import logging
import re
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from c2d.job import JobSpec, Status, WorkFlowSpec
from c2d.job.spec import WORKFLOW_ID_PATTERN
from c2d.operator import workflows
from c2d.operator.kubeapi import api_client
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import ClusterUnavailable, JobExists

log = logging.getLogger("c2d.operator.mirror")
DNS_LABEL = re.compile(WORKFLOW_ID_PATTERN)


class WorkFlowMirror:
    def __init__(self, settings: OperatorSettings) -> None:
        self.ns = settings.kube_namespace
        self.custom: Any = client.CustomObjectsApi(api_client(settings))

    def created(self, spec: JobSpec) -> None:
        """The job's WorkFlow, before the job is stored: JobExists, ClusterUnavailable or
        ValueError (an id the cluster cannot name) and nothing is stored."""
        job_id = spec.jobId
        if not DNS_LABEL.match(job_id) or len(job_id) > 48:
            raise ValueError("job ids must be DNS labels (lowercase letters, digits, '-'; at most 48)")
        body = workflows.workflow(WorkFlowSpec.of(spec), self.ns)
        try:
            self.custom.create_namespaced_custom_object(
                workflows.GROUP, workflows.VERSION, self.ns, workflows.PLURAL, body
            )
        except ApiException as exc:
            if exc.status == 409:
                raise JobExists(job_id) from None
            raise ClusterUnavailable(f"the cluster refused the WorkFlow ({exc.status} {exc.reason})") from None
        except Exception as exc:  # connection refused, timeout
            raise ClusterUnavailable(f"the cluster is unreachable ({type(exc).__name__})") from None

    def status(self, job_id: str, status: Status, reason: str) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        # An empty reason arrives as null: say so.
        written = workflows.WorkFlowStatus(
            statusCode=status, statusText=status.text, reason=reason[:1024] or None, updated=now
        )
        self._patch(job_id, {"status": written.model_dump(mode="json")}, status=True)

    def stop_requested(self, job_id: str) -> None:
        self._patch(job_id, {"spec": {"stopRequested": True}}, status=False)

    def removed(self, job_id: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                workflows.GROUP, workflows.VERSION, self.ns, workflows.PLURAL, job_id
            )
        except ApiException as exc:
            if exc.status != 404:
                log.warning("WorkFlow %s not deleted: %s", job_id, exc.status)

    def _patch(self, job_id: str, body: dict[str, Any], status: bool) -> None:
        patch = (
            self.custom.patch_namespaced_custom_object_status if status else self.custom.patch_namespaced_custom_object
        )
        try:
            patch(workflows.GROUP, workflows.VERSION, self.ns, workflows.PLURAL, job_id, body)
        except Exception as exc:  # the store has it; the WorkFlow catches up at the next transition
            log.warning("WorkFlow %s not updated: %s", job_id, getattr(exc, "status", type(exc).__name__))

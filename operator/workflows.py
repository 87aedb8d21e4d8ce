"""WorkFlow: a compute job as a custom resource in the jobs namespace (kubernetes executor).

The operator service creates one WorkFlow per job; the engine drives it, writing every status
transition to the WorkFlow's status subresource, and watches WorkFlows with kopf: a WorkFlow
whose `spec.stopRequested` becomes true, or that is deleted, stops its job. The job store stays
the record the API answers from; the WorkFlow is the job's state in the cluster, for
`kubectl get workflows` and for the cluster's own tools.
"""

from typing import Any

GROUP = "c2d.dev"
VERSION = "v1"
PLURAL = "workflows"
KIND = "WorkFlow"
CRD_NAME = f"{PLURAL}.{GROUP}"

JOB_ID_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a DNS label: it names the stage Jobs
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
STATUS_CODES = [1, 10, 20, 30, 31, 32, 40, 41, 42, 43, 50, 60, 61, 70, 80]


# Least privilege: Role rules in the jobs namespace, nothing cluster-wide.
# The engine: runs stage Jobs, follows and deletes their pods, reads their logs, drives WorkFlows.
ENGINE_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete", "deletecollection"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch", "patch", "delete"]},
    {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["get", "patch"]},
]
# With kube_outputs_class, the engine also claims and deletes each job's outputs volume.
OUTPUTS_CLAIM_RULE: dict[str, Any] = {
    "apiGroups": [""],
    "resources": ["persistentvolumeclaims"],
    "verbs": ["create", "delete"],
}
# The operator service: creates a job's WorkFlow, asks it to stop, deletes it with the job.
SERVICE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create", "get", "patch", "delete"]},
    {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"]},
]


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition (apiextensions.k8s.io/v1) with its OpenAPI schema."""
    spec_schema = {
        "type": "object",
        "required": ["jobId", "owner", "environment"],
        "properties": {
            "jobId": {"type": "string", "pattern": JOB_ID_PATTERN, "maxLength": 48},
            "owner": {"type": "string", "pattern": ADDRESS_PATTERN},
            "environment": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
            "datasets": {
                "type": "array",
                "maxItems": 64,
                "items": {"type": "string", "maxLength": 256},
            },
            "algorithm": {"type": "string", "maxLength": 256, "description": "the algorithm's DID, or 'rawcode'"},
            "stopRequested": {"type": "boolean"},
        },
    }
    status_schema = {
        "type": "object",
        "properties": {
            "statusCode": {"type": "integer", "enum": STATUS_CODES},
            "statusText": {"type": "string", "maxLength": 64},
            "reason": {"type": "string", "maxLength": 1024, "nullable": True},
            "updated": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "workflow", "kind": KIND, "shortNames": ["wf"]},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {"spec": spec_schema, "status": status_schema},
                        }
                    },
                    "additionalPrinterColumns": [
                        {"name": "Status", "type": "integer", "jsonPath": ".status.statusCode"},
                        {"name": "Text", "type": "string", "jsonPath": ".status.statusText"},
                        {"name": "Environment", "type": "string", "jsonPath": ".spec.environment"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


def workflow(job_id: str, owner: str, environment: str, spec: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The WorkFlow of a job (no URLs, keys or code: identifiers only)."""
    algorithm = spec.get("algorithm") or {}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": job_id, "namespace": namespace, "labels": {"workflow": job_id}},
        "spec": {
            "jobId": job_id,
            "owner": owner,
            "environment": environment,
            "datasets": [str(d.get("did", "")) for d in spec.get("datasets", [])],
            "algorithm": str(algorithm.get("did") or "rawcode"),
            "stopRequested": False,
        },
    }


if __name__ == "__main__":  # python -m c2d.operator.workflows > workflow-crd.json
    import json

    print(json.dumps(crd(), indent=2))

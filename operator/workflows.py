"""WorkFlow: a compute job as a custom resource in the jobs namespace (kubernetes executor).

The operator service creates one WorkFlow per job; the engine drives it, writing every status
transition to the WorkFlow's status subresource, and watches WorkFlows with kopf: a WorkFlow
whose `spec.stopRequested` becomes true, or that is deleted, stops its job. The job store stays
the record the API answers from; the WorkFlow is the job's state in the cluster, for
`kubectl get workflows` and for the cluster's own tools.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from c2d.job import Status, WorkFlowSpec

GROUP = "c2d.dev"
VERSION = "v1"
PLURAL = "workflows"
KIND = "WorkFlow"
CRD_NAME = f"{PLURAL}.{GROUP}"


# Least privilege: Role rules in the jobs namespace, nothing cluster-wide.
# The engine: runs stage Jobs, follows and deletes their pods, reads their logs, drives WorkFlows.
ENGINE_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete", "deletecollection"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},  # a stage's pod the cluster refuses
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch", "patch", "delete"]},
    {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["get", "patch"]},
]
# With kube_outputs_class, the engine also claims and deletes each job's outputs volume.
OUTPUTS_CLAIM_RULE: dict[str, Any] = {
    "apiGroups": [""],
    "resources": ["persistentvolumeclaims"],
    "verbs": ["create", "get", "delete"],
}
# The operator service: creates a job's WorkFlow, asks it to stop, deletes it with the job.
SERVICE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create", "get", "patch", "delete"]},
    {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"]},
]


class WorkFlowStatus(BaseModel):
    """The status subresource the engine writes at every transition."""

    statusCode: Status
    statusText: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=1024)
    updated: datetime


# What a structural schema (apiextensions.k8s.io/v1) keeps of a JSON schema: no titles, no
# defaults (the API server would apply them), no additionalProperties beside properties.
_KEPT = {"type", "format", "pattern", "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum"}
_KEPT |= {"enum", "description", "required"}


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pydantic model's JSON schema as a Kubernetes structural schema: references inlined,
    `X | None` as `nullable`."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return structural(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        (option,) = [o for o in schema["anyOf"] if o.get("type") != "null"]
        out = structural(option, defs)
        out["nullable"] = len(schema["anyOf"]) > 1
        if "description" in schema:
            out["description"] = schema["description"]
        return out
    out = {key: value for key, value in schema.items() if key in _KEPT}
    if "properties" in schema:
        out["properties"] = {name: structural(value, defs) for name, value in schema["properties"].items()}
    if "items" in schema:
        out["items"] = structural(schema["items"], defs)
    return out


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition (apiextensions.k8s.io/v1), its schema from WorkFlowSpec and
    WorkFlowStatus."""
    spec_schema = structural(WorkFlowSpec.model_json_schema())
    status_schema = structural(WorkFlowStatus.model_json_schema())
    status_schema.pop("required")  # written field by field: a new WorkFlow has none of it
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


def workflow(spec: WorkFlowSpec, namespace: str) -> dict[str, Any]:
    """The WorkFlow of a job (no URLs, keys or code: identifiers only)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": spec.jobId, "namespace": namespace, "labels": {"workflow": spec.jobId}},
        "spec": spec.model_dump(),
    }

"""Runs the Pulumi program under Pulumi's mocks and returns the manifests it would create, in an
order the API server accepts (`make render` writes them; tests check and apply them).

    python -m c2d.infra.render Pulumi.dev.yaml OUT.json [c2d:key=value ...]

The stack's config comes from a Pulumi stack file (its `config:`), or from JSON
({"c2d:imageTag": "dev", ...}), then the command line's overrides; providerKey and
operatorKey are given to the program as secrets. OUT.json is a `v1/List` that
`kubectl apply -f` takes.
"""

import asyncio
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

SECRET_KEYS = (
    "c2d:kubeconfig",
    "c2d:providerKey",
    "c2d:operatorKey",
    "c2d:registryPassword",
    "c2d:databasePassword",
    "c2d:providerDatabaseUrl",
    "c2d:operatorDatabaseUrl",
)
ORDER = [
    "StorageClass",
    "RuntimeClass",
    "Namespace",
    "CustomResourceDefinition",
    "PersistentVolume",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "Service",
    "Issuer",
    "Certificate",
    "Ingress",
    "StatefulSet",
    "Deployment",
    "Job",
]


@dataclass
class Recorded:
    """What the program declared: resources (type, name, wire inputs) and stack outputs."""

    resources: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    others: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # images, commands
    components: list[tuple[str, str]] = field(default_factory=list)
    provider_of: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, name) → provider reference
    reads: list[tuple[str, str]] = field(default_factory=list)

    def manifests(self) -> list[dict[str, Any]]:
        found = [_plain(inputs) for typ, _, inputs in self.resources if typ.startswith("kubernetes:")]
        return sorted(found, key=lambda m: ORDER.index(m["kind"]) if m["kind"] in ORDER else len(ORDER))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests() if m["kind"] == kind]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.resource_id:  # Resource.get: a read, not something the program creates
            self.recorded.reads.append((args.typ, args.name))
            data = {"addresses.json": json.dumps({"1337": {"contracts": {}}})}
            return args.resource_id, {**args.inputs, "data": data}
        if args.typ.startswith("kubernetes:"):
            self.recorded.resources.append((args.typ, args.name, dict(args.inputs)))
            self.recorded.provider_of[(args.typ, args.name)] = args.provider or ""
        elif args.typ.startswith("c2d:"):
            self.recorded.components.append((args.typ, args.name))
        else:
            self.recorded.others.append((args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        if args.typ == "docker-build:index:Image":  # what a push would return: a digest of the image
            digest = "sha256:" + hashlib.sha256(f"mock image {args.name}".encode()).hexdigest()
            outputs.update(digest=digest, ref=f"{outputs['tags'][0]}@{digest}")
        # What a cloud would return for a new cluster: its kubeconfig, or what one is made of.
        elif args.typ == "eks:index:Cluster":
            outputs.update(kubeconfigJson=json.dumps({"kind": "Config", "clusters": [{"name": f"eks-{args.name}"}]}))
        elif args.typ == "gcp:container/cluster:Cluster":
            outputs.update(name=args.name, endpoint="192.0.2.10", masterAuth={"clusterCaCertificate": "Q0E="})
        elif args.typ == "command:local:Command":
            outputs.update(stdout=f"kind: Config  # the output of {args.name}")
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


def run(config: dict[str, str]) -> Recorded:
    """Declares the whole deployment with `config` under mocks; raises the program's errors
    (ConfigError for a bad configuration)."""
    from c2d.infra.program import deploy

    recorded = Recorded()
    # A loop of its own, asyncio's standard one, for each run: Pulumi's mocks pump the loop by
    # hand (its private _run_once), which a uvloop policy (uvicorn sets it process-wide) or a loop
    # an earlier run left behind break; and a new root stack resource bound to that loop.
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.settings.ROOT.set(None)
    try:
        return _run(recorded, config, deploy)
    finally:
        loop.close()
        asyncio.set_event_loop_policy(policy)


def _run(recorded: Recorded, config: dict[str, str], deploy: Any) -> Recorded:
    pulumi.runtime.set_mocks(_Mocks(recorded), project="c2d", stack="dev", preview=False)
    pulumi.runtime.set_all_config(config, secret_keys=[k for k in SECRET_KEYS if k in config])
    failure: list[BaseException] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        try:
            deploy()
        except Exception as exc:  # raised again below, as itself
            failure.append(exc)

    program()
    if failure:
        raise failure[0]
    return recorded


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 (Pulumi's wire marker of a secret)
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105


def _plain(value: Any) -> Any:
    """Wire values as JSON: secrets unwrapped (they go to the API server as Secrets), numbers
    that are whole as ints (the mocks carry floats)."""
    if isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE:
        return _plain(value.get("value"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def stack_config(path: Path, overrides: list[str]) -> dict[str, str]:
    if path.suffix in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(path.read_text()).get("config", {})
    else:
        raw = json.loads(path.read_text())
    config = {str(k): str(v) for k, v in raw.items()}
    for item in overrides:
        key, _, value = item.partition("=")
        config[key] = value
    return config


def main(argv: list[str]) -> int:
    config = stack_config(Path(argv[0]), argv[2:])
    manifests = run(config).manifests()
    Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[1]).write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}, indent=1))
    kinds: dict[str, int] = {}
    for manifest in manifests:
        kinds[manifest["kind"]] = kinds.get(manifest["kind"], 0) + 1
    print(f"{len(manifests)} manifests -> {argv[1]}: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

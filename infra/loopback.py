"""A stack of the Pulumi program on the loopback test cluster (scripts/cluster), without the
Pulumi CLI: its manifests rendered under Pulumi's mocks, applied with kubectl, each part waited
for, and removed again with its volumes. The cluster test and `bench.deploy` use it; by hand:

    python -m c2d.infra.loopback up [c2d:key=value ...]     prints the timings and how to connect
    python -m c2d.infra.loopback down [c2d:key=value ...]
"""

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from c2d.infra.components import GANACHE_PORT, PROVIDER_DATA_ROOT, PROVIDER_PORT, host_volume
from c2d.infra.render import run, stack_config

REPO = Path(__file__).resolve().parents[1]
KUBECONFIG = Path("/var/lib/c2d-cluster/kubeconfig")


class NotReady(Exception):
    """A part did not become ready in time; the message shows the pods and recent events."""


@dataclass
class LoopbackStack:
    overrides: list[str] = field(default_factory=list)  # c2d:key=value on top of Pulumi.dev.yaml
    kubeconfig: Path = KUBECONFIG

    def __post_init__(self) -> None:
        config = stack_config(REPO / "Pulumi.dev.yaml", self.overrides)
        self.system = config.get("c2d:systemNamespace", "c2d-system")
        self.jobs = config.get("c2d:jobsNamespace", "c2d-jobs")
        self.manifests: list[dict[str, Any]] = run(config).manifests()
        self.provider_url = f"http://127.0.0.1:{PROVIDER_PORT}"
        self.rpc_url = f"http://127.0.0.1:{GANACHE_PORT}"
        self.data_root = host_volume(self.system, "provider") / "data"  # as this machine sees it
        self.served_root = PROVIDER_DATA_ROOT  # as the provider sees it

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def parts(self) -> list[tuple[str, str, str]]:
        """(namespace, object, condition) of each part, in the order they come up."""
        return [
            (self.system, "deployment/c2d-ganache", "available"),
            (self.system, "job/c2d-contracts", "complete"),
            (self.system, "deployment/c2d-provider", "available"),
            (self.jobs, "deployment/c2d-operator-service", "available"),
            (self.jobs, "deployment/c2d-operator-engine", "available"),
        ]

    def up(self, on_ready: Callable[[str, float], None] = lambda _, __: None, timeout: int = 240) -> dict[str, float]:
        """Applies the manifests and waits for every part; returns seconds from the start of
        the apply to each part being ready."""
        start = time.monotonic()
        timings: dict[str, float] = {}

        def mark(name: str) -> None:
            timings[name] = round(time.monotonic() - start, 1)
            on_ready(name, timings[name])

        namespaces = [m for m in self.manifests if m["kind"] == "Namespace"]
        self.kubectl("apply", "-f", "-", stdin=_as_list(namespaces))
        self.kubectl("apply", "-f", "-", stdin=_as_list(self.manifests))
        mark("applied")
        for namespace, what, condition in self.parts():
            waited = self.kubectl(
                "wait", "-n", namespace, what, f"--for=condition={condition}", f"--timeout={timeout}s", check=False
            )
            if waited.returncode != 0:
                raise NotReady(f"{what} is not {condition}: {waited.stderr.strip()}\n{self.describe()}")
            mark(what.split("/c2d-")[1])
        return timings

    def addresses(self) -> str:
        """addresses.json as the contracts Job recorded it (ConfigMap c2d-contracts)."""
        path = "jsonpath={.data.addresses\\.json}"
        return self.kubectl("get", "configmap", "c2d-contracts", "-n", self.system, "-o", path).stdout

    def describe(self) -> str:
        """The pods and recent events of both namespaces (what a failed wait shows)."""
        out = []
        for namespace in (self.system, self.jobs):
            out.append(self.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout)
            events = self.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
            out.append(events.stdout[-3000:])
        return "\n".join(out)

    def down(self) -> None:
        """Deletes both namespaces, the stack's PersistentVolumes and their node directories (the
        CRD stays: other WorkFlows may use it)."""
        self.kubectl("delete", "namespace", self.system, self.jobs, "--ignore-not-found", "--timeout=120s", check=False)
        volumes = [f"pv/{m['metadata']['name']}" for m in self.manifests if m["kind"] == "PersistentVolume"]
        if volumes:
            self.kubectl("delete", *volumes, "--ignore-not-found", "--timeout=60s", check=False)
        for namespace in (self.system, self.jobs):
            folder = host_volume(namespace, "provider").parent
            shutil.rmtree(folder, ignore_errors=True)
            if folder.exists():  # its files belong to the pods' user: removing them takes root
                print(f"loopback: {folder} is left (remove it as root)", file=sys.stderr)


def _as_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "down"):
        print(__doc__, file=sys.stderr)
        return 2
    stack = LoopbackStack(argv[1:])
    if argv[0] == "down":
        stack.down()
        return 0
    try:
        stack.up(lambda name, seconds: print(f"{seconds:6.1f} s  {name}"))
    except NotReady as error:
        print(error, file=sys.stderr)
        return 1
    print(f"provider {stack.provider_url}, chain {stack.rpc_url}; then:")
    print(
        f"  kubectl -n {stack.system} get configmap c2d-contracts"
        " -o jsonpath='{.data.addresses\\.json}' > addresses.json"
    )
    print(
        f"  c2d stack connect --provider-url {stack.provider_url} --rpc-url {stack.rpc_url} --addresses addresses.json"
        f" --data-root {stack.data_root} --served-root {stack.served_root}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A stack of the Pulumi program on the loopback test cluster (scripts/cluster), without the
Pulumi CLI: its manifests rendered under Pulumi's mocks, applied with kubectl, each part waited
for, and removed again with its volumes. The cluster test and `bench.deploy` use it; by hand:

    python -m c2d.infra.loopback up [c2d:key=value ...]     prints the timings and how to connect
    python -m c2d.infra.loopback down [c2d:key=value ...]

With `c2d:cluster=local` it goes from nothing: `up` first runs what the program declares for the
cluster (its pulumi-command resources: scripts/cluster/up.sh, then scripts/images.sh), then the
stack, then a first paid job through the CLI (publish, buy, run to 70); `down` removes the stack
and runs the commands' deletes (scripts/cluster/down.sh): nothing of it is left running.
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
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
        recorded = run(config)
        self.manifests: list[dict[str, Any]] = recorded.manifests()
        # The cluster's own steps (c2d:cluster local), in the order the program declares them.
        self.commands = [(name, inputs) for typ, name, inputs in recorded.others if typ == "command:local:Command"]
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

        for name, command in self.commands:  # the cluster and its images first (c2d:cluster local)
            done = subprocess.run(
                ["sh", "-c", command["create"]], cwd=REPO, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise NotReady(f"{name}: {command['create']} failed:\n{done.stderr[-3000:]}")
            mark(name.removeprefix("loopback-"))
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
        for name, command in reversed(self.commands):  # then the cluster itself (c2d:cluster local)
            if command.get("delete"):
                done = subprocess.run(["sh", "-c", command["delete"]], cwd=REPO, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"loopback: {name}: {command['delete']} failed: {done.stderr[-2000:]}", file=sys.stderr)

    def first_job(self, home: Path | None = None) -> float:
        """What a user types once the stack answers (connect, publish, buy, run to 70) through
        the in-cluster provider; returns its seconds."""
        home = home or Path(tempfile.mkdtemp(prefix="c2d-loopback-")) / "stack"
        start = time.monotonic()
        addresses = home.parent / "addresses.json"
        addresses.write_text(self.addresses())
        cli("stack", "connect", "--provider-url", self.provider_url, "--rpc-url", self.rpc_url,
            "--addresses", str(addresses), "--data-root", str(self.data_root), "--served-root", self.served_root,
            "--data-dir", str(home))  # fmt: skip
        first_job(home)
        return time.monotonic() - start


C2D = str(Path(sys.executable).parent / "c2d")
ALGORITHM = "import os, pathlib\npathlib.Path(os.environ['OUTPUTS'], 'ok.txt').write_text('ok')\n"


def cli(*args: str) -> str:
    done = subprocess.run([C2D, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"c2d {args[0]} {args[1]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def first_job(home: Path) -> None:
    """Publish a dataset, buy a datatoken, run a raw algorithm to 70, as a user would (the
    stack at `home`, embedded or connected)."""
    (home.parent / "data.csv").write_text("1\n2\n3\n")
    (home.parent / "algorithm.py").write_text(ALGORITHM)
    published = cli("publish", "dataset", str(home.parent / "data.csv"), "--allow-raw", "--data-dir", str(home))
    match = re.search(r"did:op:[0-9a-fA-F]{40}", published)
    if not match:
        raise RuntimeError(f"publish printed no DID:\n{published}")
    cli("tokens", "buy", match.group(0), "--data-dir", str(home))
    job = cli("compute", "start", match.group(0), "--raw", str(home.parent / "algorithm.py"), "--data-dir", str(home))
    if "70 Job finished" not in job:
        raise RuntimeError(f"the first job did not finish:\n{job}")


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
    start = time.monotonic()
    try:
        stack.up(lambda name, seconds: print(f"{seconds:6.1f} s  {name}", flush=True))
        if stack.commands:  # from nothing: a first job too
            stack.first_job()
            print(f"{time.monotonic() - start:6.1f} s  first job finished (70)", flush=True)
    except (NotReady, RuntimeError) as error:
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

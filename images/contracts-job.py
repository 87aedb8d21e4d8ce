"""The contracts Job of an in-cluster deployment (image c2d/contracts): deploys c2d's contracts
to the chain at $C2D_RPC_URL with the brownie project's deploy script and records the addresses
in the ConfigMap c2d-contracts (key addresses.json) of $C2D_CONFIGMAP_NAMESPACE, which the
provider mounts.

Idempotent: the ConfigMap's record is handed to the deploy script, which reuses every contract
still on chain with the recorded code, so a re-run sends no transaction and leaves the
ConfigMap as it is. Talks to the API server with the pod's service account token and the
standard library only (the image holds brownie's environment, not c2d's); its Role allows
creating ConfigMaps and reading and updating c2d-contracts, nothing else.

Environment: C2D_RPC_URL, C2D_CONFIGMAP_NAMESPACE, optional C2D_DEPLOYER_KEY (default: the
node's first unlocked account), and the in-cluster KUBERNETES_SERVICE_HOST/PORT.
"""

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PROJECT = Path("/opt/c2d-contracts")
BROWNIE = Path("/opt/brownie/bin/brownie")
ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
NAME, KEY = "c2d-contracts", "addresses.json"
NETWORKS = """\
development: []
live:
  - name: c2d
    networks:
      - name: c2d chain at $C2D_RPC_URL
        id: c2d-rpc
        host: $C2D_RPC_URL
        chainid: c2d
        timeout: 60
"""


class Api:
    """The few ConfigMap calls the Job makes, with the service account's token."""

    def __init__(self, namespace: str) -> None:
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self.base = f"https://{host}:{port}/api/v1/namespaces/{namespace}/configmaps"
        self.token = (ACCOUNT / "token").read_text().strip()
        self.tls = ssl.create_default_context(cafile=str(ACCOUNT / "ca.crt"))

    def call(self, method: str, path: str = "", body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        request = urllib.request.Request(  # noqa: S310 (https to the API server only)
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=30) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if method == "GET" and error.code == 404:
                return None
            detail = error.read().decode(errors="replace")[:500]
            raise SystemExit(f"contracts: {method} configmap {NAME}: HTTP {error.code}: {detail}") from None


def wait_for_chain(rpc_url: str, seconds: float = 120) -> None:
    """The chain's Deployment may still be starting: wait until it answers eth_chainId."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    deadline = time.monotonic() + seconds
    while True:
        try:
            request = urllib.request.Request(rpc_url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310 (http(s), checked in main)
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                if "result" in json.loads(response.read()):
                    return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"contracts: no chain answered within {seconds:.0f} s")
        time.sleep(1)


def main() -> None:
    rpc_url = os.environ["C2D_RPC_URL"]
    if not rpc_url.startswith(("http://", "https://")):
        raise SystemExit("contracts: C2D_RPC_URL must be an http(s) URL")
    api = Api(os.environ["C2D_CONFIGMAP_NAMESPACE"])
    current = api.call("GET", f"/{NAME}")
    recorded = (current or {}).get("data", {}).get(KEY, "{}")

    # brownie writes into its project and home: work on copies in the pod's /tmp.
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "c2d-contracts"  # noqa: S108
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(PROJECT, work / "project", symlinks=True)
    home = work / "home"
    (home / ".brownie").mkdir(parents=True)
    (home / ".brownie" / "network-config.yaml").write_text(NETWORKS)
    addresses = work / KEY
    addresses.write_text(recorded)

    wait_for_chain(rpc_url)
    env = {**os.environ, "HOME": str(home), "C2D_ADDRESSES_FILE": str(addresses)}
    run = subprocess.run(
        [str(BROWNIE), "run", "scripts/deploy.py", "--network", "c2d-rpc"],
        cwd=work / "project",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    report = [line for line in run.stdout.splitlines() if line.startswith(("chain ", "addresses "))]
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
        raise SystemExit(f"contracts: the deploy script failed (exit {run.returncode})")
    print("\n".join(report))

    deployed = addresses.read_text()
    if current is None:
        api.call("POST", body={"metadata": {"name": NAME}, "data": {KEY: deployed}})
        print(f"contracts: created configmap {NAME}")
    elif json.loads(deployed) != json.loads(recorded):
        current["data"] = {**current.get("data", {}), KEY: deployed}
        api.call("PUT", f"/{NAME}", current)
        print(f"contracts: updated configmap {NAME}")
    else:
        print(f"contracts: configmap {NAME} unchanged")


if __name__ == "__main__":
    main()

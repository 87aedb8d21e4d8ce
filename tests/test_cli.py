"""The `c2d` command line on a real embedded stack: what a user types, what a user sees."""

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from eth_account import Account

from c2d.localchain import dev_keys, free_port
from commands import C2D, SUM_ALGORITHM, c2d


def test_errors_are_one_line_and_a_hint_not_a_traceback(tmp_path):
    result = c2d("stack", "status", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"error: no stack is up in {tmp_path}",
        "hint: start one with `c2d stack up`, or name its directory with --data-dir",
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_whole_flow_from_the_command_line(tmp_path):
    data = tmp_path / "stack"
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    up = c2d("stack", "up", "--data-dir", str(data), *ports)
    assert "c2d is up" in up.stdout
    try:
        assert "up   provider" in c2d("stack", "status", "--data-dir", str(data)).stdout
        _each_process_holds_only_its_own_fresh_key(data)
        published = data / "published"
        (published / "n.csv").write_text("1\n2\n3\n")
        (published / "sum.py").write_text(SUM_ALGORITHM)
        algo = c2d("publish", "algorithm", str(published / "sum.py"), "--data-dir", str(data)).stdout
        algo_did = re.search(r"did:op:[0-9a-fA-F]{40}", algo).group(0)
        publisher = "0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0"  # local account 1
        ds = c2d(
            "publish", "dataset", str(published / "n.csv"), "--trust-publisher", publisher, "--data-dir", str(data)
        )
        ds_did = re.search(r"did:op:[0-9a-fA-F]{40}", ds.stdout).group(0)
        bad = tmp_path / "policy.json"
        bad.write_text('{"verbatim": {"minRun": 4}}')
        refused = c2d(
            "publish",
            "dataset",
            str(published / "n.csv"),
            "--output-policy",
            str(bad),
            "--data-dir",
            str(data),
            check=False,
        )
        assert refused.returncode != 0 and "verbatim.minRun" in refused.stdout + refused.stderr, refused
        strict = c2d(
            "publish", "dataset", str(published / "n.csv"), "--output-policy", "strict", "--data-dir", str(data)
        )
        assert "dataset published" in strict.stdout
        for did in (ds_did, algo_did):
            assert "bought" in c2d("tokens", "buy", did, "--data-dir", str(data)).stdout
        run = c2d("compute", "start", ds_did, "--algorithm", algo_did, "--data-dir", str(data)).stdout
        assert "70 Job finished" in run
        job_id = re.search(r"job ([0-9a-f]{32})", run).group(1)
        index = re.search(r"\[(\d+)\] sum.txt", run).group(1)
        assert c2d("compute", "result", job_id, index, "--data-dir", str(data)).stdout == "6"
        assert "default" in c2d("env", "list", "--data-dir", str(data)).stdout
        # the same sum in Node.js: published to run in the node runtime (served by the host's node)
        (published / "sum.js").write_text(SUM_IN_NODE)
        node = c2d(
            "publish", "algorithm", str(published / "sum.js"), "--image", "c2d/algorithm-node",
            "--entrypoint", "node $ALGO", "--no-pin", "--data-dir", str(data),
        ).stdout  # fmt: skip
        node_did = re.search(r"did:op:[0-9a-fA-F]{40}", node).group(0)
        for did in (ds_did, node_did):
            c2d("tokens", "buy", did, "--data-dir", str(data))
        run = c2d("compute", "start", ds_did, "--algorithm", node_did, "--data-dir", str(data)).stdout
        assert "70 Job finished" in run, run
        job_id = re.search(r"job ([0-9a-f]{32})", run).group(1)
        index = re.search(r"\[(\d+)\] sum.txt", run).group(1)
        assert c2d("compute", "result", job_id, index, "--data-dir", str(data)).stdout == "6"
        refused = c2d("compute", "start", ds_did, "--algorithm", algo_did, "--data-dir", str(data), check=False)
        assert refused.returncode == 1 and refused.stdout.startswith("error: ordering")  # no datatokens left
    finally:
        c2d("stack", "down", "--data-dir", str(data))
    after = c2d("stack", "status", "--data-dir", str(data), check=False)
    assert after.returncode == 1 and after.stdout.startswith("error: no stack is up")


SUM_IN_NODE = """
const fs = require("fs"), path = require("path");
let total = 0;
const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).forEach((e) => {
  const p = path.join(dir, e.name);
  if (e.isDirectory()) walk(p); else fs.readFileSync(p, "utf8").split(/\\s+/).filter(Boolean).forEach((x) => { total += Number(x); });
});
walk(process.env.INPUTS);
fs.writeFileSync(path.join(process.env.OUTPUTS, "sum.txt"), String(total));
"""


def test_connect_to_a_chain_that_is_not_there_says_so(tmp_path):
    addresses = tmp_path / "addresses.json"
    addresses.write_text("{}")
    result = c2d(
        "stack", "connect", "--provider-url", "http://127.0.0.1:1", "--rpc-url", f"http://127.0.0.1:{free_port()}",
        "--addresses", str(addresses), "--data-root", str(tmp_path), "--data-dir", str(tmp_path / "stack"),
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("error: no c2d chain at http://127.0.0.1:"), result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "stack" / "stack.json").exists()


def _each_process_holds_only_its_own_fresh_key(data):
    keys = data / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    provider_key, operator_key = ((keys / f"{n}.key").read_text().strip() for n in ("provider", "operator"))
    for name in ("provider", "operator"):
        assert stat.S_IMODE((keys / f"{name}.key").stat().st_mode) == 0o600
    dev = {Account.from_key(k).address for k in dev_keys(10)}
    assert {Account.from_key(provider_key).address, Account.from_key(operator_key).address}.isdisjoint(dev)
    pids = json.loads((data / "stack.json").read_text())["pids"]
    held = {}
    for name in ("provider", "operator-service", "operator-engine"):
        environ = Path(f"/proc/{pids[name]}/environ").read_bytes()
        assert provider_key.removeprefix("0x").encode() not in environ
        assert operator_key.removeprefix("0x").encode() not in environ
        held[name] = {v.split(b"=")[0].decode() for v in environ.split(b"\0") if b"_KEY" in v.split(b"=")[0]}
    assert held == {
        "provider": {"C2D_PROVIDER_KEY_FILE"},
        "operator-service": set(),
        "operator-engine": {"C2D_OPERATOR_KEY_FILE"},
    }


def test_stack_up_says_why_its_executor_cannot_work_and_leaves_nothing_running(tmp_path):
    data = tmp_path / "stack"
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    env = {
        "COLUMNS": "200",
        "PATH": f"{Path(shutil.which('docker') or '/usr/bin/docker').parent}:/usr/bin:/bin",  # docker's client
        "C2D_EXECUTOR": "docker",
        "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}",
    }
    result = subprocess.run(
        [C2D, "stack", "up", "--data-dir", str(data), *ports], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1, result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith("error: the operator-engine stopped at start-up: the docker executor cannot reach Docker:")
    assert "Cannot connect to the Docker daemon" in first and "docker run --help" not in result.stdout
    assert not (data / "stack.json").exists()
    # nothing of that stack is left running: its processes were started in its directory
    mine = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_mentions(p, str(data))]
    assert mine == []


def _cmdline_mentions(pid: str, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False

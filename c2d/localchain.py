"""A local Ganache chain with c2d's contracts, for the embedded stack, the demo and the tests."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import requests
from eth_account import Account

from c2d.chain import Deployment, connect

REPO = Path(__file__).resolve().parents[1]
# Ganache's published deterministic test mnemonic: well known, so for local chains only.
DEV_MNEMONIC = "myth like bonus scare over problem client lizard pioneer submit female collect"
CHAIN_ID = 1337


def dev_keys(count: int = 10, mnemonic: str = DEV_MNEMONIC) -> list[str]:
    """The private keys of the local chain's funded accounts (BIP-44 path m/44'/60'/0'/0/i)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        "0x" + bytes(Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}").key).hex()
        for i in range(count)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Ganache:
    """A Ganache process on 127.0.0.1; `with Ganache() as g:` starts it and stops it."""

    def __init__(
        self,
        port: int | None = None,
        db_path: Path | None = None,
        log_path: Path | None = None,
        mnemonic: str = DEV_MNEMONIC,
    ) -> None:
        self.port = port or free_port()
        self.db_path = db_path
        self.log_path = log_path
        self.mnemonic = mnemonic
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        ganache = os.environ.get("C2D_GANACHE", str(REPO / "node_modules" / ".bin" / "ganache"))
        cmd = [
            ganache,
            "--server.host", "127.0.0.1",
            "--server.port", str(self.port),
            "--chain.chainId", str(CHAIN_ID),
            "--chain.hardfork", "shanghai",
            "--miner.blockGasLimit", "30000000",
            "--wallet.mnemonic", self.mnemonic,
            "--wallet.totalAccounts", "10",
            "--wallet.defaultBalance", "1000",
            "--logging.quiet",
        ]  # fmt: skip
        if self.db_path:
            self.db_path.mkdir(parents=True, exist_ok=True)
            cmd += ["--database.dbPath", str(self.db_path)]
        return cmd

    def start(self, timeout: float = 30.0) -> "Ganache":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ganache exited with status {self.process.returncode}")
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ganache did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> "Ganache":
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def deploy_contracts(rpc_url: str, addresses_file: Path, deployer_key: str | None = None) -> Deployment:
    """Runs the brownie deploy script (contracts/scripts/deploy.py) against `rpc_url`, which
    deploys what addresses_file lacks for that chain, and returns the deployment. Without
    `deployer_key` (or C2D_DEPLOYER_KEY) the node's first unlocked account deploys."""
    env = {**os.environ, "C2D_RPC_URL": rpc_url, "C2D_ADDRESSES_FILE": str(Path(addresses_file).resolve())}
    if deployer_key:
        env["C2D_DEPLOYER_KEY"] = deployer_key
    result = subprocess.run(
        [str(REPO / "scripts" / "brownie.sh"), "run", "scripts/deploy.py", "--network", "c2d-rpc"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"contract deployment failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return Deployment.load(Path(addresses_file), connect(rpc_url).eth.chain_id)

"""The embedded stack: the whole c2d on one machine as local processes.

`c2d stack up` starts Ganache (state kept in the data directory), deploys the contracts (or
reuses them), then the provider, the operator service and the engine (local executor), and
writes stack.json: URLs, ports, process ids, addresses. `c2d stack down` stops them. The
accounts of the CLI are the local chain's well-known development accounts
(c2d.localchain.dev_keys): 0 deployer (holds the base tokens), 1 publisher, 2 consumer.

The provider's and the operator's keys are the stack's own: made at the first `stack up`, kept
in <data dir>/keys (directory 700, files 600), each given only to the process that signs with
it — the provider its key, the engine the operator's; the operator service gets neither.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_account import Account

from c2d.chain import Chain, ChainClient, Wallet
from c2d.localchain import CHAIN_ID, Ganache, deploy_contracts, dev_keys, free_port

if TYPE_CHECKING:
    from c2d.client import ProviderClient

DEPLOYER, PUBLISHER, CONSUMER = 0, 1, 2
FUNDED_ACCOUNTS = range(1, 8)
BASE_TOKENS_EACH = 1000 * 10**18


class StackError(Exception):
    """The stack could not be brought up, or is not up."""


@dataclass
class StackState:
    data_dir: str
    rpc_url: str
    provider_url: str
    operator_url: str
    chain_id: int
    addresses_file: str
    data_root: str
    pids: dict[str, int] = field(default_factory=dict)
    served_root: str = ""  # the data root as the provider sees it, when not data_root (c2d stack connect)
    provider_address: str = ""  # what clients sign for: the stack's own key, or pinned at connect
    engine_metrics_url: str = ""  # the engine's Prometheus metrics (the services' are at <url>/metrics)
    # how each process was started (argv, and the environment it got beyond the shell's), so
    # `c2d stack restart` starts it again the same way; key files are named here, never keys
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> "StackState":
        path = data_dir / "stack.json"
        if not path.exists():
            raise StackError(f"no stack is up in {data_dir}")
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        Path(self.data_dir, "stack.json").write_text(json.dumps(asdict(self), indent=2))

    @staticmethod
    def key(account: int) -> str:
        """The private key of local account `account`."""
        return dev_keys(account + 1)[account]

    def client(self, account: int) -> "ProviderClient":
        """A client of the stack's provider signing as local account `account`."""
        from c2d.client import ProviderClient

        return ProviderClient(self.provider_url, self.key(account), provider_address=self.provider_address)

    def publisher_dir(self, account: int) -> Path:
        """Where local account `account` keeps the files it publishes (the provider serves a
        publisher's file:// URLs only from its own folder)."""
        return self.publisher_dir_of(str(Account.from_key(self.key(account)).address))

    def publisher_dir_of(self, address: str) -> Path:
        """The folder of the publisher `address` under the provider's data root."""
        path = Path(self.data_root) / address.lower()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def served_path(self, path: Path) -> Path:
        """A file under data_root, as the provider sees it."""
        if not self.served_root:
            return path.resolve()
        return Path(self.served_root) / path.resolve().relative_to(Path(self.data_root).resolve())

    def chain(self) -> Chain:
        return Chain.at(self.rpc_url, Path(self.addresses_file))

    def chain_client(self, account: int) -> ChainClient:
        chain = self.chain()
        return ChainClient(chain, Wallet(chain.w3, self.key(account)))


def default_data_dir() -> Path:
    return Path(os.environ.get("C2D_STACK_DIR", Path.home() / ".c2d" / "stack"))


_KEY_VARIABLES = frozenset(
    {"C2D_PROVIDER_KEY", "C2D_PROVIDER_KEY_FILE", "C2D_OPERATOR_KEY", "C2D_OPERATOR_KEY_FILE"}
)  # of the shell that runs `stack up`: each process gets only the key the stack gives it


def _spawn(name: str, argv: list[str], env: dict[str, str], data_dir: Path) -> int:
    """Starts one of the stack's processes in a session of its own, its output in logs/<name>.log."""
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            argv,
            env={**{k: v for k, v in os.environ.items() if k not in _KEY_VARIABLES}, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the command that started it
        )
    return process.pid


def service_key(data_dir: Path, name: str) -> Path:
    """The file of the stack's key `name` (provider, operator), made on first use: a fresh
    random key, readable by its owner only."""
    folder = data_dir / "keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    path = folder / f"{name}.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(Account.create().key.hex())
    path.chmod(0o600)
    return path


def _address_in(key_file: Path) -> str:
    return str(Account.from_key(key_file.read_text().strip()).address)


def wait_http(url: str, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise StackError(f"the {name} did not come up at {url} (see its log)")


def up(
    data_dir: Path,
    chain_port: int = 8545,
    provider_port: int = 8030,
    operator_port: int = 8031,
    progress: Callable[[str], None] = lambda _: None,
    operator_env: dict[str, str] | None = None,
) -> StackState:
    """Brings the embedded stack up. `operator_env`: more C2D_* settings of the operator service
    and engine (another executor, for example)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / "stack.json").exists():
        raise StackError(f"a stack is already up in {data_dir} (c2d stack down first)")
    keys = dev_keys(10)
    c2d = str(Path(sys.executable).parent / "c2d")
    pids: dict[str, int] = {}
    commands: dict[str, dict[str, Any]] = {}
    try:
        progress("starting Ganache")
        ganache = Ganache(port=chain_port, db_path=data_dir / "chain", log_path=data_dir / "logs" / "ganache.log")
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        ganache.start()
        assert ganache.process is not None
        pids["ganache"] = ganache.process.pid
        commands["ganache"] = {"argv": ganache.command(), "env": {}}
        progress("deploying the contracts (brownie)")
        addresses = data_dir / "addresses.json"
        deploy_contracts(ganache.url, addresses, keys[DEPLOYER])
        provider_key, operator_key = service_key(data_dir, "provider"), service_key(data_dir, "operator")
        data_root = data_dir / "published"
        data_root.mkdir(exist_ok=True)
        provider_url = f"http://127.0.0.1:{provider_port}"
        operator_url = f"http://127.0.0.1:{operator_port}"
        common = {
            "C2D_RPC_URL": ganache.url,
            "C2D_CHAIN_ID": str(CHAIN_ID),
            "C2D_ADDRESSES_FILE": str(addresses),
            "C2D_PROVIDER_URL": provider_url,
            "C2D_OPERATOR_URL": operator_url,
            "C2D_DATA_ROOT": str(data_root),
            "C2D_PROVIDER_DATABASE_URL": f"sqlite:///{data_dir / 'provider.db'}",
            "C2D_OPERATOR_ADDRESSES": _address_in(operator_key),
            "C2D_OPERATOR_PROVIDERS": _address_in(provider_key),
            "C2D_OPERATOR_DATABASE_URL": f"sqlite:///{data_dir / 'operator.db'}",
            "C2D_JOBS_DIR": str(data_dir / "jobs"),
            # Every client of the embedded stack is this machine (CLI, demo, tests): a limit
            # per client that one machine running many jobs does not reach.
            "C2D_RATE_LIMIT": "6000",
            "C2D_RATE_BURST": "1000",
            **(operator_env or {}),
        }
        progress("starting the provider, the operator service and the engine")
        provider_env = {**common, "C2D_PROVIDER_KEY_FILE": str(provider_key), "C2D_PUBLIC_RPC_URL": ganache.url}
        heartbeat = data_dir / "engine.heartbeat"
        heartbeat.unlink(missing_ok=True)
        engine_metrics_port = free_port()
        engine_env = {
            **common,
            "C2D_OPERATOR_KEY_FILE": str(operator_key),
            "C2D_ENGINE_HEARTBEAT": str(heartbeat),
            "C2D_ENGINE_METRICS_PORT": str(engine_metrics_port),
        }
        commands["provider"] = {"argv": [c2d, "provider", "--port", str(provider_port)], "env": provider_env}
        commands["operator-service"] = {"argv": [c2d, "operator-service", "--port", str(operator_port)], "env": common}
        commands["operator-engine"] = {"argv": [c2d, "operator-engine"], "env": engine_env}
        for name in ("provider", "operator-service", "operator-engine"):
            pids[name] = _spawn(name, commands[name]["argv"], commands[name]["env"], data_dir)
        wait_http(provider_url + "/", "provider")
        wait_http(operator_url + "/", "operator service")
        # The engine has no port: it is ready once it has checked its executor and beats.
        deadline = time.monotonic() + 60
        while not heartbeat.exists() and _alive(pids["operator-engine"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        for name, pid in pids.items():
            if not _alive(pid):
                raise StackError(f"the {name} stopped at start-up: {_last_error(data_dir, name)}")
        if not heartbeat.exists():
            why = _last_error(data_dir, "operator-engine")
            raise StackError(f"the operator-engine did not start within 60 s: {why}")
        state = StackState(
            str(data_dir), ganache.url, provider_url, operator_url, CHAIN_ID, str(addresses), str(data_root), pids
        )
        state.commands = commands
        state.provider_address = _address_in(provider_key)
        state.engine_metrics_url = f"http://127.0.0.1:{engine_metrics_port}/metrics"
        progress("funding the local accounts with base tokens")
        _fund(state)
        state.save()
        return state
    except BaseException:
        _stop(pids)
        raise


def connect(
    data_dir: Path, rpc_url: str, provider_url: str, addresses_file: Path, data_root: Path, served_root: str = ""
) -> StackState:
    """Points the CLI at a c2d deployed elsewhere (the Kubernetes dev stack, say) whose chain
    uses the local development accounts: writes stack.json with no processes of its own, so
    `c2d publish`, `c2d tokens` and `c2d compute` talk to that provider and chain. `data_root`:
    where the provider serves publishers' files from, as this machine sees it. When the
    contracts were deployed by development account 0, the local accounts get their base tokens
    as with `c2d stack up`. `served_root`: the same folder as the provider sees it (its own
    C2D_DATA_ROOT), when that differs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / "stack.json").exists():
        raise StackError(f"a stack is already up in {data_dir} (c2d stack down first)")
    try:
        chain = Chain.at(rpc_url, addresses_file)
        chain_id = chain.w3.eth.chain_id
    except Exception as error:
        raise StackError(f"no c2d chain at {rpc_url} with the addresses of {addresses_file}: {error}") from None
    addresses = data_dir / "addresses.json"
    if addresses_file.resolve() != addresses.resolve():
        addresses.write_text(addresses_file.read_text())
    wait_http(provider_url.rstrip("/") + "/", "provider", timeout=10)
    state = StackState(
        str(data_dir), rpc_url, provider_url.rstrip("/"), "", chain_id, str(addresses), str(data_root), {}, served_root
    )
    # Trust on first use: the provider's address is pinned now, and every later signature is for it.
    state.provider_address = str(httpx.get(provider_url.rstrip("/") + "/", timeout=10).json()["providerAddress"])
    record = json.loads(addresses.read_text()).get(str(chain_id), {})
    if str(record.get("deployer", "")).lower() == Account.from_key(state.key(DEPLOYER)).address.lower():
        _fund(state)
    state.save()
    return state


def _last_error(data_dir: Path, name: str) -> str:
    """The line of a process's log that says why it stopped (its last "error:" line), and where the log is."""
    path = data_dir / "logs" / f"{name}.log"
    try:
        lines = path.read_text(errors="replace").splitlines()[-200:]
    except OSError:
        lines = []
    errors = [line.strip() for line in lines if line.strip().startswith("error:")]
    return f"{errors[-1].removeprefix('error:').strip()} (see {path})" if errors else f"see {path}"


def _fund(state: StackState) -> None:
    deployer = state.chain_client(DEPLOYER)
    token = deployer.chain.base_token
    for account in FUNDED_ACCOUNTS:
        address = Account.from_key(state.key(account)).address
        if token.functions.balanceOf(address).call() < BASE_TOKENS_EACH:
            deployer.wallet.send(token.functions.transfer(address, BASE_TOKENS_EACH))


def _stop(pids: dict[str, int]) -> None:
    for name in ("operator-engine", "operator-service", "provider", "ganache"):
        pid = pids.get(name)
        if pid is None:
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of this process counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


PROCESSES = ("ganache", "provider", "operator-service", "operator-engine")


def restart(data_dir: Path, name: str, timeout: float = 60.0) -> StackState:
    """Starts the stack's process `name` again as `stack up` started it, after stopping it if
    it still runs (SIGTERM to its session, then SIGKILL), and waits until it is ready: the
    chain and the services answer, the engine beats. Its jobs, chain state and records stay."""
    state = StackState.load(data_dir)
    if name not in state.commands:
        raise StackError(f"the stack has no process {name!r} (it has: {', '.join(state.commands) or 'none'})")
    _stop({name: state.pids[name]})
    command = state.commands[name]
    heartbeat = Path(command["env"].get("C2D_ENGINE_HEARTBEAT", data_dir / "engine.heartbeat"))
    if name == "operator-engine":
        heartbeat.unlink(missing_ok=True)
    state.pids[name] = _spawn(name, command["argv"], command["env"], data_dir)
    state.save()
    pid, deadline = state.pids[name], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise StackError(f"the {name} stopped at start-up: {_last_error(data_dir, name)}")
        if _ready(state, name, heartbeat):
            return state
        time.sleep(0.1)
    raise StackError(f"the {name} was not ready within {timeout:.0f} s: {_last_error(data_dir, name)}")


def _ready(state: StackState, name: str, heartbeat: Path) -> bool:
    if name == "operator-engine":
        return heartbeat.exists()
    try:
        if name == "ganache":
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
            return httpx.post(state.rpc_url, json=body, timeout=1).status_code == 200
        url = state.provider_url if name == "provider" else state.operator_url
        httpx.get(url + "/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def down(data_dir: Path) -> None:
    state = StackState.load(data_dir)
    _stop(state.pids)
    (data_dir / "stack.json").unlink()


def status(data_dir: Path) -> dict[str, bool]:
    state = StackState.load(data_dir)
    return {name: _alive(pid) for name, pid in state.pids.items()}

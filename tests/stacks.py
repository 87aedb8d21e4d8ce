"""A whole c2d on this machine: the provider, the operator service and the engine (a real
process) on a Ganache chain, with an executor of choice (local by default)."""

import json
from dataclasses import dataclass
from pathlib import Path

from c2d.operator import create_app as operator_app
from c2d.operator import load_environments
from c2d.operator import load_settings as operator_settings
from servers import AppServer, EngineProcess, ProviderServer, make_settings

REPO = Path(__file__).resolve().parents[1]

ENVIRONMENTS = [
    {"id": "default", "memoryMb": 256, "maxDuration": 60, "maxJobs": 2},
    {"id": "tight", "memoryMb": 64, "maxDuration": 3, "maxProcesses": 16, "maxJobs": 4},
    {"id": "single", "memoryMb": 128, "maxDuration": 30, "maxJobs": 1},
    {"id": "tiny-output", "memoryMb": 128, "maxDuration": 30, "maxJobs": 2, "maxOutputMb": 1},
    {"id": "paid", "price": "1000000000000000000"},
    {"id": "short-log", "memoryMb": 128, "maxDuration": 30, "maxJobs": 1, "maxLogMb": 1},
    {"id": "long-log", "memoryMb": 128, "maxDuration": 60, "maxJobs": 1, "maxLogMb": 256},
    {"id": "small-disk", "memoryMb": 128, "maxDuration": 60, "maxJobs": 1, "diskMb": 64, "maxOutputMb": 1},
    {"id": "net", "memoryMb": 128, "maxDuration": 60, "maxJobs": 1, "network": True},
    {"id": "julia", "images": ["example.org/julia"], "pullSecret": "/etc/secret-registry-config"},
    {"id": "gpu", "memoryMb": 128, "maxDuration": 30, "maxJobs": 1, "gpus": 1, "startTimeout": 5},
]


@dataclass
class Stack:
    root: Path
    provider: ProviderServer
    operator: AppServer
    engine: EngineProcess
    jobs_dir: Path
    data_root: Path
    provider_key_file: Path

    def stop(self) -> None:
        self.engine.stop()
        self.operator.stop()
        self.provider.stop()


def start_stack(
    root,
    published,
    ganache,
    addresses_file,
    keys,
    executor=None,
    service=None,
    environments=None,
    database_url=None,
    engine_env=None,
) -> Stack:
    """Starts a provider, an operator service and an engine process under `root`, serving the
    files of `published` (shared between stacks). `executor`: operator settings of both the
    engine and the service; `service`: settings only the service gets; `environments`: the
    operator's (ENVIRONMENTS by default); `database_url`: the operator's store (SQLite under
    `root` by default); `engine_env`: more of the engine's environment."""
    executor = executor or {}
    data_root = published / _address(keys[1]).lower()  # the publisher's folder
    data_root.mkdir(parents=True, exist_ok=True)
    (data_root / "numbers.csv").write_text("".join(f"{i}\n" for i in range(1, 101)))  # sum 5050
    (data_root / "words.txt").write_text("compute to data\nkeeps data home\n")
    provider_key, operator_key = keys[9], keys[8]
    key_file = root / "provider.key"
    key_file.write_text(provider_key)
    key_file.chmod(0o600)
    provider_address = _address(provider_key)
    envs = root / "environments.json"
    envs.write_text(json.dumps(ENVIRONMENTS if environments is None else environments))
    values = {
        "jobs_dir": root / "jobs",
        "operator_database_url": database_url or f"sqlite:///{root / 'operator.db'}",
        "operator_providers": provider_address,
        "environments_file": envs,
        "poll_interval": 0.05,
    }
    operator = AppServer(lambda: None)
    provider = ProviderServer(
        make_settings(
            ganache,
            addresses_file,
            published,
            root / "provider.db",
            provider_key,
            operator_url=f"http://127.0.0.1:{operator.port}",
            operator_addresses=_address(operator_key),
        )
    ).start()
    settings = operator_settings(**values, **{**executor, **(service or {})}, provider_url=provider.url)
    operator.make_app = lambda: operator_app(settings, load_environments(envs))
    operator.start()
    engine_env = {
        "C2D_JOBS_DIR": str(values["jobs_dir"]),
        "C2D_OPERATOR_DATABASE_URL": values["operator_database_url"],
        "C2D_OPERATOR_PROVIDERS": provider_address,
        "C2D_OPERATOR_KEY": operator_key,
        "C2D_PROVIDER_URL": provider.url,
        "C2D_ENVIRONMENTS_FILE": str(envs),
        "C2D_POLL_INTERVAL": "0.05",
        **{f"C2D_{name.upper()}": str(value) for name, value in executor.items()},
        **(engine_env or {}),
    }
    engine = EngineProcess(engine_env, root / "engine.log").start()
    return Stack(root, provider, operator, engine, Path(values["jobs_dir"]), data_root, key_file)


def _address(key: str) -> str:
    from eth_account import Account

    return str(Account.from_key(key).address)

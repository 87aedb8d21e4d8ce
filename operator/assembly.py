"""The composition root of the operator's processes: what each is made of, built in one place.

make_store(settings)   the job store; on kubernetes with each job's WorkFlow kept in step
build_engine(settings) the engine: its store, its executor, the environments
run_engine(settings)   the engine process: checks its executor, follows the WorkFlows on
                       kubernetes, runs until SIGTERM
"""

import signal
import socket
import threading

from prometheus_client import start_http_server

from c2d.metrics import new_registry
from c2d.operator.engine import Engine, EngineMetrics
from c2d.operator.environments import load_environments
from c2d.operator.executors import make_executor
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import JobStore


def make_store(settings: OperatorSettings, holder: str | None = None) -> JobStore:
    """`holder`: the engine the store writes for (None: the operator service)."""
    if settings.executor == "kubernetes":
        from c2d.operator.mirror import WorkFlowMirror

        return JobStore(settings.operator_database_url, events=WorkFlowMirror(settings), holder=holder)
    return JobStore(settings.operator_database_url, holder=holder)


def engine_id(settings: OperatorSettings) -> str:
    """This engine's name in the store: its setting, or the host's name (stable across restarts,
    so a restarted engine continues its jobs at once; a pod's name on Kubernetes)."""
    return settings.engine_id or socket.gethostname()[:128]


def build_engine(settings: OperatorSettings, metrics: EngineMetrics | None = None) -> Engine:
    return Engine(
        make_store(settings, holder=engine_id(settings)),
        make_executor(settings),
        load_environments(settings.environments_file),
        settings.results_ttl,
        settings.poll_interval,
        settings.lease_seconds,
        metrics,
    )


def run_engine(settings: OperatorSettings) -> None:
    """Raises ExecutorUnavailable, before anything runs, when the executor cannot run stages."""
    metrics = None
    if settings.engine_metrics_port:
        registry = new_registry()
        metrics = EngineMetrics(registry)
        start_http_server(settings.engine_metrics_port, settings.engine_metrics_host, registry)
    engine = build_engine(settings, metrics)
    engine.executor.check()
    halted = threading.Event()
    if settings.executor == "kubernetes":
        from c2d.operator.watcher import watch_workflows

        watch_workflows(engine.store, settings, halted)

    def halt(*_: object) -> None:
        halted.set()
        engine.halt()

    # SIGTERM (c2d stack down, a Deployment's rollout): stop cleanly. Local stages end with the
    # engine; container stages go on and are followed again at the next start.
    signal.signal(signal.SIGTERM, halt)
    engine.run_forever()

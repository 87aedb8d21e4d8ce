"""c2d.operator: the operator service (job API for the provider) and the engine that runs jobs
through configure → algorithm → publish on an executor."""

from c2d.job.status import Status
from c2d.operator.api import create_app
from c2d.operator.engine import Engine
from c2d.operator.environments import Environment, load_environments
from c2d.operator.executors import make_executor
from c2d.operator.settings import OperatorSettings, load_settings
from c2d.operator.store import JobStore, make_store


def build_engine(settings: OperatorSettings) -> Engine:
    return Engine(
        make_store(settings),
        make_executor(settings),
        load_environments(settings.environments_file),
        settings.results_ttl,
        settings.poll_interval,
    )


__all__ = [
    "Engine",
    "Environment",
    "JobStore",
    "OperatorSettings",
    "Status",
    "build_engine",
    "create_app",
    "load_environments",
    "load_settings",
    "make_store",
]

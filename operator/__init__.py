"""c2d.operator: the operator service (job API for the provider) and the engine that runs jobs
through configure → algorithm → publish on an executor (c2d.operator.executors). What each
process is made of: c2d.operator.assembly."""

from c2d.job import Status
from c2d.operator.api import create_app
from c2d.operator.assembly import build_engine, make_store, run_engine
from c2d.operator.engine import Engine
from c2d.operator.environments import Environment, load_environments
from c2d.operator.settings import OperatorSettings, load_settings
from c2d.operator.store import JobStore

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
    "run_engine",
]

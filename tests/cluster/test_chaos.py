"""The chaos suite on the test cluster's executors (tests/chaos.py; `make chaos` runs 100 runs
per stack): the engine SIGKILLed or stopped, or a stage's container killed (docker kill) or its
pod deleted without grace, while jobs are under way; every job ends, once, nothing is left in
the cluster or under the jobs directory."""

import os

import pytest
from chaos import CLUSTER_TARGETS, suite

pytestmark = pytest.mark.cluster
RUNS = int(os.environ.get("C2D_CHAOS_RUNS", "4"))  # the engine killed and stopped, a stage killed twice


@pytest.mark.parametrize("executor", ["docker", "kubernetes"])
def test_no_job_is_stuck_lost_or_run_twice_when_the_engine_or_a_stage_dies(executor, tmp_path, request):
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    suite(tmp_path, RUNS, CLUSTER_TARGETS, executor, say=reporter.write_line)

"""The chaos suite's small size (tests/chaos.py; `make chaos` runs the full size): on one
embedded stack, each of Ganache, the provider, the operator service and the engine is SIGKILLed
or stopped while jobs are under way, then started again; every invariant holds after each run."""

import os

from chaos import TARGETS, suite

RUNS = int(os.environ.get("C2D_CHAOS_RUNS", "8"))  # every target, killed and stopped


def test_no_job_is_stuck_lost_or_run_twice_when_a_process_of_the_stack_dies(tmp_path, request):
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    suite(tmp_path, RUNS, TARGETS, say=reporter.write_line)

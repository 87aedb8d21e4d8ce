"""Faults that are not crashes, each ending in a clear state: the chain or the operator service
stops answering for a while (SIGSTOP: connections hang rather than fail), then answers again.
The provider's own timeouts are 2 s here (C2D_HTTP_TIMEOUT) so that a hang shows at once."""

import json
import signal
import time

import httpx
import pytest
from chaos import ChaosStack, Run

from c2d.client import ProviderRequestError
from c2d.job import FINAL

TIMEOUT = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    environments = root / "environments.json"
    environments.write_text(json.dumps([{"id": "default"}, {"id": "gvisor", "runtime": "gvisor"}]))
    stack = ChaosStack(root, {"C2D_HTTP_TIMEOUT": str(TIMEOUT), "C2D_ENVIRONMENTS_FILE": str(environments)})
    yield stack
    stack.close()


def _refused(call):
    with pytest.raises(ProviderRequestError) as refused:
        call()
    return refused.value.status, refused.value.code


def _checked(stack, target, jobs):
    """Every invariant of the chaos suite for these jobs (by order)."""
    run = Run(target, "freeze", 0.0, 0.0, orders=list(jobs), jobs=jobs)
    stack.check(run, time.monotonic())
    assert not run.violations, run.violations


def test_a_chain_that_stops_answering_is_a_503_and_the_provider_recovers_by_itself(stack):
    order = stack.order()
    stack.kill("ganache", signal.SIGSTOP)
    try:
        assert _refused(lambda: stack.start(order)) == (503, "chain_unavailable")
        # what needs no chain still answers
        assert httpx.get(stack.state.provider_url + "/", timeout=10).status_code == 200
        assert stack.api.compute_status() is not None
    finally:
        stack.kill("ganache", signal.SIGCONT)
    job_id = stack.start(order)  # the same request, once the chain answers: nothing to restart
    _checked(stack, "ganache", {order: job_id})


def test_an_operator_service_that_stops_answering_is_a_503_and_the_same_request_then_gets_its_one_job(stack):
    order, earlier_order = stack.order(), stack.order()
    earlier = stack.start(earlier_order)
    stack.kill("operator-service", signal.SIGSTOP)
    try:
        # the job request reached a service that never answered: its outcome is not known yet
        assert _refused(lambda: stack.start(order)) == (503, "job_unconfirmed")
        assert _refused(lambda: stack.api.compute_status(earlier)) == (503, "operator_unavailable")
    finally:
        stack.kill("operator-service", signal.SIGCONT)
    job_id = stack.start(order)  # sent again: the job the frozen service took (or takes now), once
    _checked(stack, "operator-service", {order: job_id, earlier_order: earlier})


def test_a_gvisor_environment_on_the_local_executor_fails_its_jobs_before_anything_runs(stack):
    """gVisor is a container runtime (tests/cluster/test_gvisor.py): the local executor's own
    sandbox is not it, and says so rather than running the algorithm otherwise isolated."""
    job_id = stack.start(stack.order(), environment="gvisor")
    deadline = time.monotonic() + 60
    while (status := stack.api.compute_status(job_id)[0])["status"] not in {int(s) for s in FINAL}:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == 41, status
    from c2d.operator.store import JobStore

    store = JobStore(f"sqlite:///{stack.data_dir / 'operator.db'}")
    try:
        reason = store.get(job_id).reason
    finally:
        store.close()
    assert (
        reason
        == "isolation unavailable, nothing ran: the environment's runtime gvisor is the container executors' only"
    )
    stack.api.compute_delete(job_id)

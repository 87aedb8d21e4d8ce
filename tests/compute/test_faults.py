"""Faults that are not crashes, each ending in a clear state: the chain or the operator service
stops answering for a while (SIGSTOP: connections hang rather than fail), then answers again.
The provider's own timeouts are 2 s here (C2D_HTTP_TIMEOUT) so that a hang shows at once."""

import signal
import time

import httpx
import pytest
from chaos import ChaosStack, Run

from c2d.client import ProviderRequestError

TIMEOUT = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = ChaosStack(tmp_path_factory.mktemp("faults"), {"C2D_HTTP_TIMEOUT": str(TIMEOUT)})
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

"""A job's admission across a crash: the provider records the job and takes its orders' uses in
one transaction before it asks the operator service, so a provider that dies in between leaves
a job "admitting" with its orders held, never a use taken for nothing. The same request sent
again gets that one job; a consumer who never sends it again has the uses back after the grace.
Found by reading what the chaos suite's kills could hit: the uses were taken, then the
operator asked, and a crash between the two kept the consumer's payment for no job."""

import signal
import threading
import time

import httpx
import pytest
from chaos import ChaosStack, Run

from c2d.provider.store import CREATED, GIVEN_BACK, Store

GRACE = 3.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = ChaosStack(tmp_path_factory.mktemp("admission"), {"C2D_ADMISSION_GRACE": str(GRACE)})
    yield stack
    stack.close()


def _admission_of(stack, order, timeout=30.0):
    """The provider's admission of a job on `order` while it is admitting, and the order's uses."""
    store = Store(f"sqlite:///{stack.data_dir / 'provider.db'}")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for admission in store.admitting(time.time() + 60):
                if admission.spec["datasets"][0]["transferTxId"] == order:
                    return admission, store.cached_order(order, stack.dataset.datatoken)[1]
            time.sleep(0.05)
        raise AssertionError(f"no admission of {order}")
    finally:
        store.close()


def _settled(stack, admission, state, timeout=30.0):
    """The admission once it is in `state`: its record (which keeps no spec) and its order's uses."""
    store = Store(f"sqlite:///{stack.data_dir / 'provider.db'}")
    try:
        deadline = time.monotonic() + timeout
        while (now := store.admission(admission.job_id)).state != state:
            assert time.monotonic() < deadline, now.state
            time.sleep(0.05)
        tx, token = admission.orders[0]
        return now, store.cached_order(tx, token)[1]
    finally:
        store.close()


def _provider_dies_waiting_for_the_operator(stack, order):
    """The operator service frozen (SIGSTOP), a job started, and the provider SIGKILLed once it
    has admitted the job; returns that admission."""
    stack.kill("operator-service", signal.SIGSTOP)
    answered = []
    sender = threading.Thread(target=lambda: answered.append(_try(stack, order)))
    sender.start()
    admission, uses = _admission_of(stack, order)
    assert uses == 1
    stack.kill("provider")
    sender.join(30)
    assert answered and isinstance(answered[0], httpx.HTTPError), answered  # the consumer heard nothing
    return admission


def _try(stack, order):
    try:
        return stack.start(order)
    except Exception as exc:
        return exc


def test_the_same_request_sent_again_after_the_crash_gets_the_one_job(stack):
    order = stack.order()
    admission = _provider_dies_waiting_for_the_operator(stack, order)
    stack.kill("operator-service", signal.SIGCONT)  # it may create the job from the request it holds
    stack.restart("provider")
    assert stack.start(order) == admission.job_id  # sent again: the same job, created once
    created, uses = _settled(stack, admission, CREATED)
    assert (created.spec, uses) == ({}, 1)
    run = Run("provider", "kill", 0.0, 0.0, orders=[order], jobs={order: admission.job_id})
    stack.check(run, time.monotonic())
    assert not run.violations, run.violations


def test_a_job_never_created_gives_its_orders_uses_back_after_the_grace(stack):
    order = stack.order()
    admission = _provider_dies_waiting_for_the_operator(stack, order)
    stack.kill("operator-service")  # the request it held dies with it: no job
    stack.restart("operator-service")
    stack.restart("provider")
    given_back, uses = _settled(stack, admission, GIVEN_BACK, timeout=GRACE * 4 + 10)
    assert (given_back.spec, given_back.orders, uses) == ({}, (), 0)
    job_id = stack.start(order)  # the order is good for its one job again
    assert job_id != admission.job_id
    run = Run("provider", "kill", 0.0, 0.0, orders=[order], jobs={order: job_id})
    stack.check(run, time.monotonic())
    assert not run.violations, run.violations

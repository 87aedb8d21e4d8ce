"""The jobs directory's disk full (a 48 MB tmpfs under the stack's jobs directory): each job
ends in a clear state, nothing is left behind, the services stay up, and once there is room
again jobs run as before. An algorithm's 16 MB volume is reserved whole before it runs, so a
disk without room for it fails the job before the algorithm starts, saying so."""

import json
import os
import subprocess
import time

import pytest
from chaos import ChaosStack, Run, leftovers, settled

from c2d import stack as embedded
from c2d.job import FINAL

DISK_MB, VOLUME_MB = 48, 16


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk-full")
    jobs = root / "stack" / "jobs"
    jobs.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=711", "c2d-test-jobs", str(jobs)], check=True)
    envs = root / "environments.json"
    envs.write_text(json.dumps([{"id": "default", "diskMb": VOLUME_MB, "maxJobs": 1, "maxDuration": 30}]))
    try:
        stack = ChaosStack(root, {"C2D_ENVIRONMENTS_FILE": str(envs)})
        yield stack
        stack.close()
    finally:
        subprocess.run(["umount", "-l", str(jobs)], check=False)


def _final(stack, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (status,) = stack.api.compute_status(job_id)
        if status["status"] in {int(s) for s in FINAL}:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is not final after {timeout} s: {status}")


def _fill(stack, leave_mb):
    """A file taking all of the jobs disk but `leave_mb`."""
    filler = stack.jobs_dir / "filler"
    free = os.statvfs(stack.jobs_dir).f_bavail * os.statvfs(stack.jobs_dir).f_frsize
    with filler.open("ab") as out:
        out.write(b"\0" * max(0, free - (leave_mb << 20)))
    return filler


def _reason(stack, job_id):
    from c2d.operator.store import JobStore

    store = JobStore(f"sqlite:///{stack.data_dir / 'operator.db'}")
    try:
        return store.get(job_id).reason
    finally:
        store.close()


def _nothing_left(stack):
    assert settled(lambda: leftovers(stack.jobs_dir, stack.state.pids["operator-engine"])) == []
    assert all(embedded.status(stack.data_dir).values())


def test_a_job_without_room_for_its_volume_fails_before_its_algorithm_runs(stack):
    filler = _fill(stack, leave_mb=VOLUME_MB // 2)
    try:
        final = _final(stack, stack.start(stack.order()))
        assert final["status"] == 41, final
        reason = (
            f"isolation unavailable, nothing ran: no room under the jobs directory for the algorithm's {VOLUME_MB} MB"
        )
        assert _reason(stack, final["jobId"]).startswith(reason)
        _nothing_left(stack)
        stack.api.compute_delete(final["jobId"])
    finally:
        filler.unlink()


def test_a_job_on_a_full_disk_ends_clearly_and_the_next_one_runs_once_there_is_room(stack):
    filler = _fill(stack, leave_mb=0)
    try:
        final = _final(stack, stack.start(stack.order()))
        assert final["status"] == 31, final  # configure could not write the inputs
        assert "No space left on device" in _reason(stack, final["jobId"])
        _nothing_left(stack)
        stack.api.compute_delete(final["jobId"])
    finally:
        filler.unlink()
    order = stack.order()
    job_id = stack.start(order)
    run = Run("disk", "full", 0.0, 0.0, orders=[order], jobs={order: job_id})
    stack.check(run, time.monotonic())
    assert not run.violations, run.violations

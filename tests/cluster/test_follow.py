"""A job's log followed through the provider while the algorithm runs, on every executor: each
line arrives as the algorithm prints it (the docker executor follows the container's log, the
kubernetes executor the pod's), and the stream ends when the job does."""

import time

import pytest

from jobs import dataset_order, raw

STEPS = 12
PRINTING = f"import time\nfor i in range({STEPS}):\n    print(f'step {{i}}', flush=True)\n    time.sleep(0.5)\n"


@pytest.mark.parametrize("name", ["local", "docker", "kubernetes"])
def test_the_log_is_followed_while_the_algorithm_runs(name, apis, consumer, open_dataset):
    api = apis[name]
    (job,) = api.compute_start(dataset_order(consumer, open_dataset), raw(PRINTING))
    arrivals: list[tuple[float, bytes]] = []
    status_at_first = None
    started = time.monotonic()
    for chunk in api.iter_logs(job["jobId"]):
        arrivals.append((time.monotonic(), chunk))
        if status_at_first is None and b"step 0" in b"".join(c for _, c in arrivals):
            (status_at_first,) = api.compute_status(job["jobId"])
    ended = time.monotonic()
    (final,) = api.compute_status(job["jobId"])
    assert final["status"] == 70, final  # the stream ended with the job
    text = b"".join(chunk for _, chunk in arrivals).decode()
    assert [line for line in text.splitlines() if line.startswith("step")] == [f"step {i}" for i in range(STEPS)]
    assert status_at_first is not None and status_at_first["status"] == 40, status_at_first
    # the lines came over the algorithm's run, not all at its end
    first = next(at for at, chunk in arrivals if b"step 0" in chunk)
    last = next(at for at, chunk in arrivals if f"step {STEPS - 1}".encode() in chunk)
    assert last - first > 0.5 * (STEPS - 1) * 0.5, (name, last - first, ended - started, len(arrivals))

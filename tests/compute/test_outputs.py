"""What an algorithm leaves behind cannot break or bloat the job's record: output names that
are not UTF-8, thousands of outputs, logs longer than their limit, and a large log followed
through the provider (local executor)."""

import io
import json
import os
import resource
import tarfile

import httpx
import pytest
from bombs import DISK_BOMB, bytes_under

from jobs import dataset_order, raw, wait_final, wait_status


@pytest.fixture(scope="module")
def dataset(make_dataset):
    return make_dataset("numbers.csv", policy="open")  # publish's own handling of any output


def start(consumer, consumer_api, dataset, code, environment=None):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code), environment=environment)
    return job["jobId"]


def test_an_output_name_that_is_not_utf8_leaves_status_calls_working(stack, consumer, consumer_api, dataset):
    code = "import os\nfd = os.open(b'/data/outputs/bad\\xff\\xfename.txt', os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')\n"
    job_id = start(consumer, consumer_api, dataset, code)
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 70, final
    names = [r["filename"] for r in final["results"] if r["type"] == "output"]
    assert names == ["bad__name.txt"]
    index = final["results"][0]["index"]
    assert consumer_api.compute_result(job_id, index) == b"x"
    # Every status call of this consumer keeps answering (the list of all its jobs too).
    assert any(j["jobId"] == job_id for j in consumer_api.compute_status())


def test_ten_thousand_outputs_are_published_as_one_archive(stack, consumer, consumer_api, dataset):
    code = "for i in range(10_000):\n    open(f'/data/outputs/part-{i:05d}.txt', 'w').write(str(i))\n"
    job_id = start(consumer, consumer_api, dataset, code)
    final = wait_final(consumer_api, job_id, timeout=120)
    assert final["status"] == 70, final
    outputs = [r for r in final["results"] if r["type"] == "output"]
    assert [r["filename"] for r in outputs] == ["outputs.tar"]
    reply = len(json.dumps(final))
    print(f"\nstatus reply with 10,000 outputs: {reply} bytes")
    assert reply < 4000
    with tarfile.open(fileobj=io.BytesIO(consumer_api.compute_result(job_id, outputs[0]["index"]))) as archive:
        members = archive.getnames()
        assert len(members) == 10_000 and members[0] == "part-00000.txt"
        assert archive.extractfile("part-09999.txt").read() == b"9999"


def test_a_log_longer_than_its_limit_is_cut_and_says_so(stack, consumer, consumer_api, dataset):
    code = "import sys\nfor _ in range(5):\n    sys.stdout.write('y' * (1 << 20))\nprint('the end')\n"
    job_id = start(consumer, consumer_api, dataset, code, environment="short-log")
    final = wait_final(consumer_api, job_id)
    assert final["status"] == 70, final
    assert "log was cut at 1 MB" in final["reason"]
    log = next(r for r in final["results"] if r["type"] == "algorithmLog")
    assert (1 << 20) < log["filesize"] < (1 << 20) + 200
    text = consumer_api.compute_result(job_id, log["index"])
    assert text.endswith(b"[c2d] this log was cut at 1048576 bytes: 4194312 more bytes were not kept\n")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def test_following_a_200_mb_log_takes_bounded_memory(stack, consumer, consumer_api, dataset):
    """The provider and the operator service run in this process: its memory, while a 200 MB
    log streams through both to the consumer, must not grow by the log's size."""
    code = (
        "import sys, time\nline = ('z' * 1023 + '\\n').encode()\n"
        "for _ in range(200 * 1024):\n    sys.stdout.buffer.write(line)\n"
        "sys.stdout.flush()\ntime.sleep(1)\n"
    )
    job_id = start(consumer, consumer_api, dataset, code, environment="long-log")
    wait_status(consumer_api, job_id, 40)
    before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    received = 0
    for chunk in consumer_api.iter_logs(job_id):
        received += len(chunk)
    grown = _rss_mb() - before
    print(
        f"\nfollowed {received >> 20} MB of log; RSS {before:.0f} MB -> {before + grown:.0f} MB, peak {peak_before:.0f} MB"
    )
    assert received == 200 << 20
    assert grown < 64, grown
    assert wait_final(consumer_api, job_id)["status"] == 70
    httpx.get(stack.provider.url + "/")  # the provider still answers


def test_a_disk_bomb_stops_at_the_quota_and_leaves_nothing_but_its_logs(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv", policy="open")  # publish's own output limit
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(DISK_BOMB), environment="small-disk")
    final = wait_final(consumer_api, job["jobId"], timeout=120)
    # 64 MB of outputs against a 1 MB output limit: publishing fails, nothing is published
    assert (final["status"], final["statusText"]) == (61, "Publishing failed"), final
    log = consumer_api.compute_logs(job["jobId"]).decode()
    written = int(log.split("wrote ")[1].split(" MB")[0])
    assert "No space left on device" in log and written <= 64, log  # the volume's size, not 200 MB
    # its logs still come back
    names = {r["filename"]: r for r in final["results"]}
    assert {"algorithm.log", "configure.log", "publish.log"} <= set(names), final["results"]
    assert not any(r["type"] == "output" for r in final["results"])
    publish_log = consumer_api.compute_result(job["jobId"], names["publish.log"]["index"]).decode()
    assert "exceed the environment's limit" in publish_log
    # nothing of the bomb stays on the host: no outputs, no volume, no mount
    job_dir = stack.jobs_dir / job["jobId"]
    outputs = job_dir / "data" / "outputs"
    assert not (stack.jobs_dir / ".volumes" / f"{job['jobId']}.img").exists() and not os.path.ismount(outputs)
    left = bytes_under(job_dir) - bytes_under(job_dir / "data" / "logs")
    assert left < 64 << 10, left  # job.json and results.json only
    print(f"disk bomb: {written} MB written of 200 tried; {left} bytes left besides the logs")


def test_outputs_within_the_quota_are_published_from_their_volume(stack, consumer, consumer_api, make_dataset):
    dataset = make_dataset("numbers.csv")
    code = "open('/data/outputs/result.txt', 'w').write('x' * 1000)\nimport os\nos.makedirs('/data/outputs/d')\nopen('/data/outputs/d/e.txt', 'w').write('e')\n"
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code), environment="small-disk")
    final = wait_final(consumer_api, job["jobId"])
    assert final["status"] == 70, final
    outputs = {r["filename"]: r for r in final["results"] if r["type"] == "output"}
    assert set(outputs) == {"result.txt", "d/e.txt"}
    assert consumer_api.compute_result(job["jobId"], outputs["d/e.txt"]["index"]) == b"e"
    job_dir = stack.jobs_dir / job["jobId"]
    assert not (stack.jobs_dir / ".volumes" / f"{job['jobId']}.img").exists()
    assert not os.path.ismount(job_dir / "data" / "outputs")

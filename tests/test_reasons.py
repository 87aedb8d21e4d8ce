"""A job's reason names paths as its stages see them, never where the job lives on the host."""

from types import SimpleNamespace

from c2d.job import Outcome, layout
from c2d.operator.engine import Engine
from c2d.operator.executors.base import JobDirectories
from c2d.operator.settings import OperatorSettings
from c2d.pods.publish import _as_seen


def _engine(jobs):
    settings = OperatorSettings(jobs_dir=jobs, operator_providers="0x" + "11" * 20, provider_url="http://127.0.0.1:9")
    return Engine(store=None, executor=JobDirectories(settings), environments=[], results_ttl=60)  # type: ignore[arg-type]


def test_reasons_name_paths_as_the_stages_see_them(tmp_path):
    jobs = tmp_path / "jobs"
    engine = _engine(jobs)
    job = SimpleNamespace(id="abc")
    reason = f"x: {jobs}/abc/data/outputs/f; y: {jobs}/abc/job.json; z: {jobs}/other/data"
    assert engine._as_seen(job, reason) == "x: /data/outputs/f; y: /job/job.json; z: <jobs>/other/data"
    assert str(tmp_path) not in engine._as_seen(job, reason)


def test_publish_reports_a_file_as_the_algorithm_saw_it(tmp_path):
    assert _as_seen(tmp_path, str(tmp_path / "data" / "outputs" / "a" / "b.txt")) == "/data/outputs/a/b.txt"
    assert _as_seen(tmp_path, b"/elsewhere/secret/name.txt") == "name.txt"


def test_a_stage_killed_after_its_last_line_fails_as_killed_not_as_that_line(tmp_path):
    """The chaos suite on docker: a configure container killed between printing "provisioned"
    and its exit ended its job 31 with the reason "provisioned". A stage that ended by itself
    says why in its last line; one killed, timed out or never started is described as such."""
    engine, job = _engine(tmp_path / "jobs"), SimpleNamespace(id="abc")
    configure_log = layout.log(tmp_path / "jobs" / "abc", "configure")
    configure_log.parent.mkdir(parents=True)
    configure_log.write_text("fetching 1 file\nprovisioned\n")
    for killed, said in (
        (Outcome.exited(137, 1.0), "configure exited with code 137"),  # docker, kubernetes: 128 + SIGKILL
        (Outcome.exited(None, 1.0, signal=9), "configure was killed by signal 9"),  # the sandbox
        (Outcome.timeout(600.0), "configure timed out"),
        (Outcome.failed("pod deleted"), "configure pod deleted"),
    ):
        assert engine._stage_reason(job, killed, "configure") == said
    configure_log.write_text("fetching 1 file\ndid:op:1 file 0: provider answered 404 not_found\n")
    assert (
        engine._stage_reason(job, Outcome.exited(3, 1.0), "configure")
        == "did:op:1 file 0: provider answered 404 not_found"
    )
    configure_log.write_text("Traceback (most recent call last):\nOSError: [Errno 28] No space left on device\n")
    assert (
        engine._stage_reason(job, Outcome.exited(1, 1.0), "configure") == "OSError: [Errno 28] No space left on device"
    )
    configure_log.unlink()  # nothing said: how it ended
    assert engine._stage_reason(job, Outcome.exited(3, 1.0), "configure") == "configure exited with code 3"
    publish_log = layout.log(tmp_path / "jobs" / "abc", "publish")
    publish_log.write_text("published 2 output file(s)\n")
    assert engine._stage_reason(job, Outcome.exited(137, 1.0), "publish") == "publish exited with code 137"

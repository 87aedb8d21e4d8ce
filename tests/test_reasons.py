"""A job's reason names paths as its stages see them, never where the job lives on the host."""

from types import SimpleNamespace

from c2d.operator.engine import Engine
from c2d.operator.executors.base import JobDirectories
from c2d.operator.settings import OperatorSettings
from c2d.pods.publish import _as_seen


def test_reasons_name_paths_as_the_stages_see_them(tmp_path):
    jobs = tmp_path / "jobs"
    settings = OperatorSettings(jobs_dir=jobs, operator_providers="0x" + "11" * 20, provider_url="http://127.0.0.1:9")
    engine = Engine(store=None, executor=JobDirectories(settings), environments=[], results_ttl=60)  # type: ignore[arg-type]
    job = SimpleNamespace(id="abc")
    reason = f"x: {jobs}/abc/data/outputs/f; y: {jobs}/abc/job.json; z: {jobs}/other/data"
    assert engine._as_seen(job, reason) == "x: /data/outputs/f; y: /job/job.json; z: <jobs>/other/data"
    assert str(tmp_path) not in engine._as_seen(job, reason)


def test_publish_reports_a_file_as_the_algorithm_saw_it(tmp_path):
    assert _as_seen(tmp_path, str(tmp_path / "data" / "outputs" / "a" / "b.txt")) == "/data/outputs/a/b.txt"
    assert _as_seen(tmp_path, b"/elsewhere/secret/name.txt") == "name.txt"

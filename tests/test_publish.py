"""publish keeps what the algorithm wrote even where its outputs are a mount of their own (a pod's
subPath mount, the engine's disk volume): a rename across mounts fails, a copy does not."""

import contextlib
import json
import subprocess
import threading
import time

from c2d.job import PublishExit, layout
from c2d.pods import publish
from jobs import job_spec


def test_outputs_on_another_mount_of_the_same_file_system_are_published(tmp_path):
    job_dir = tmp_path / "job"
    for name in layout.DATA_DIRS:
        (layout.data(job_dir) / name).mkdir(parents=True)
    layout.write_spec(job_dir, job_spec())
    written = tmp_path / "written"  # the same file system, bound over data/outputs: a mount of its own
    (written / "sub").mkdir(parents=True)
    (written / "sub" / "sum.txt").write_text("5050\n")
    outputs = layout.outputs(job_dir)
    subprocess.run(["mount", "--bind", str(written), str(outputs)], check=True)
    try:
        assert publish.main([str(job_dir), str(1 << 20)]) == 0
    finally:
        subprocess.run(["umount", str(outputs)], check=True)
    results = json.loads((job_dir / layout.RESULTS_FILE).read_text())
    (output,) = [r for r in results if r["type"] == "output"]
    assert (output["filename"], output["filesize"]) == ("sub/sum.txt", 5)
    assert (job_dir / output["path"]).read_text() == "5050\n"


def _job_dir(tmp_path):
    job_dir = tmp_path / "job"
    for name in layout.DATA_DIRS:
        (layout.data(job_dir) / name).mkdir(parents=True)
    layout.signals(job_dir).mkdir()
    layout.write_spec(job_dir, job_spec())
    (layout.outputs(job_dir) / "out.txt").write_text("result\n")
    return job_dir


def test_publish_started_ahead_reads_nothing_before_its_signal(tmp_path):
    job_dir = _job_dir(tmp_path)
    seen = {}

    def give_signal():
        time.sleep(0.5)
        seen["outputs then"] = sorted(p.name for p in layout.outputs(job_dir).iterdir())
        seen["results then"] = (job_dir / layout.RESULTS_FILE).exists()
        layout.signal(job_dir, layout.PUBLISH)

    thread = threading.Thread(target=give_signal)
    thread.start()
    began = time.monotonic()
    assert publish.main([str(job_dir), str(1 << 20), "--wait", "30"]) == 0
    thread.join()
    assert time.monotonic() - began >= 0.5
    assert seen == {"outputs then": ["out.txt"], "results then": False}  # untouched while it waited
    assert layout.signalled(job_dir, layout.PUBLISHED) == "0"
    (output,) = [r for r in json.loads((job_dir / layout.RESULTS_FILE).read_text()) if r["type"] == "output"]
    assert output["filename"] == "out.txt"


def test_publish_started_ahead_gives_up_unasked_and_touches_nothing(tmp_path):
    job_dir = _job_dir(tmp_path)
    assert publish.main([str(job_dir), str(1 << 20), "--wait", "0.3"]) == PublishExit.NOT_ASKED
    assert (layout.outputs(job_dir) / "out.txt").read_text() == "result\n"
    assert not (job_dir / layout.RESULTS_FILE).exists()
    assert layout.signalled(job_dir, layout.PUBLISHED) is None  # the engine starts a publish anew


def test_signals_are_whole_and_only_where_the_job_has_signals(tmp_path):
    layout.signal(tmp_path, layout.CONFIGURED)  # no signals/: the local executor's job directory
    assert not layout.signals(tmp_path).exists() and layout.signalled(tmp_path, layout.CONFIGURED) is None
    layout.clear_signals(tmp_path)
    layout.signal(tmp_path, layout.PUBLISHED, "5")
    assert layout.signalled(tmp_path, layout.PUBLISHED) == "5"
    assert [p.name for p in layout.signals(tmp_path).iterdir()] == [layout.PUBLISHED]  # nothing half-written
    layout.clear_signals(tmp_path)
    assert list(layout.signals(tmp_path).iterdir()) == []


class _Killed(BaseException):
    """What a SIGKILL leaves: the moves done so far, and nothing after them."""


def _publish_killed_after(monkeypatch, job_dir, moves):
    real, done = publish.os.rename, []

    def rename(src, dst):
        if len(done) == moves:
            raise _Killed
        done.append(src)
        real(src, dst)

    monkeypatch.setattr(publish.os, "rename", rename)
    with contextlib.suppress(_Killed):
        publish.main([str(job_dir), str(1 << 20)])
    monkeypatch.undo()
    return done


def _outputs(job_dir):
    results = json.loads((job_dir / layout.RESULTS_FILE).read_text())
    return {r["filename"]: (job_dir / r["path"]).read_text() for r in results if r["type"] == "output"}


def test_a_publish_killed_while_it_moved_the_outputs_loses_none_when_run_again(tmp_path, monkeypatch):
    """Found by the chaos suite on kubernetes: a publish pod deleted under it is run again by its
    Job, and the second run found the outputs the first had moved gone: the job finished with
    no results."""
    job_dir = _job_dir(tmp_path)
    (layout.outputs(job_dir) / "sub").mkdir()
    written = {"out.txt": "result\n", **{f"sub/{n}.txt": f"{n}\n" for n in range(5)}}
    for name, text in written.items():
        (layout.outputs(job_dir) / name).write_text(text)
    moved = _publish_killed_after(monkeypatch, job_dir, 3)
    assert len(moved) == 3 and not (job_dir / layout.RESULTS_FILE).exists()  # killed midway
    assert publish.main([str(job_dir), str(1 << 20)]) == 0
    assert _outputs(job_dir) == written
    assert publish.main([str(job_dir), str(1 << 20)]) == 0  # and again, once it had ended (an engine restart)
    assert _outputs(job_dir) == written


def test_a_publish_run_again_after_archiving_does_not_take_its_archive_for_an_output(tmp_path, monkeypatch):
    job_dir = _job_dir(tmp_path)
    monkeypatch.setattr(publish, "MAX_OUTPUT_FILES", 2)
    for n in range(3):
        (layout.outputs(job_dir) / f"{n}.txt").write_text(f"{n}\n")
    assert publish.main([str(job_dir), str(1 << 20)]) == 0
    assert publish.main([str(job_dir), str(1 << 20)]) == 0
    results = json.loads((job_dir / layout.RESULTS_FILE).read_text())
    assert [r["filename"] for r in results if r["type"] == "output"] == [publish.ARCHIVE]
    assert sorted(p.name for p in layout.outputs(job_dir).iterdir()) == ["0.txt", "1.txt", "2.txt", "out.txt"]

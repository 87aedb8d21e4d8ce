"""publish keeps what the algorithm wrote even where its outputs are a mount of their own (a pod's
subPath mount, the engine's disk volume): a rename across mounts fails, a copy does not."""

import json
import subprocess

from c2d.job import layout
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

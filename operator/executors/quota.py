"""A job's writable space with a hard size, for the local and docker executors.

The algorithm writes only to <job dir>/data/outputs. When the engine runs as root and the
machine has loop devices, that folder is an ext4 filesystem of the environment's diskMb, in a
file of the engine's (<jobs dir>/.volumes/<job id>.img), loop-mounted nosuid, nodev, noexec: the
algorithm gets ENOSPC at the limit and the host's disk never sees more than that. The file's
whole size is reserved when it is made: a job the jobs directory's disk has no room for fails
before its algorithm runs (NoRoom), rather than an algorithm failing writes it was told fit. Publish copies what is
published out of it (data/results); the volume is unmounted and deleted when the job ends, well
or badly, so nothing of a disk bomb stays behind.

Without root or loop devices there is no volume: the per-file limit (RLIMIT_FSIZE) and the
output limit at publish still apply, and the outputs are deleted when the job ends badly.
"""

import errno
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("c2d.operator.executors.quota")

VOLUMES = ".volumes"  # <jobs dir>/.volumes/<job id>.img: the engine's, out of every stage's reach
_warned = False


class NoRoom(Exception):
    """The jobs directory's disk has no room for a job's volume: nothing was mounted."""


def _image(job_dir: Path) -> Path:
    folder = job_dir.parent / VOLUMES
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{job_dir.name}.img"


def _plain(job_dir: Path, outputs: Path) -> bool:
    """Whether `outputs` is the job's own folder, reached through no link (the job's directory
    belongs to configure's and publish's user: root must not follow what that user could put there)."""
    expected = os.path.join(os.path.realpath(job_dir), "data", "outputs")
    return os.path.realpath(outputs) == expected and not outputs.is_symlink()


def available() -> bool:
    return (
        os.geteuid() == 0
        and os.path.exists("/dev/loop-control")
        and shutil.which("mkfs.ext4") is not None
        and shutil.which("mount") is not None
    )


def _mounted(path: Path) -> bool:
    return os.path.ismount(path)


def mount(job_dir: Path, outputs: Path, size_mb: int, owner: int | None) -> bool:
    """A fresh, empty volume of `size_mb` at `outputs` (which must exist and be empty); False
    when volumes are not available here (see the module's documentation)."""
    global _warned
    if not available():
        if not _warned:
            log.warning("no per-job disk volumes (needs root and loop devices): outputs bounded per file only")
            _warned = True
        return False
    unmount(job_dir, outputs)
    if not _plain(job_dir, outputs) or not outputs.is_dir():
        raise RuntimeError("the job's outputs folder is not a plain folder")
    image = _image(job_dir)
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        # Reserved, not sparse: on a disk that fills up, a sparse volume would fail its writes
        # under the algorithm (or lose them at writeback) while it reports room to spare.
        try:
            os.posix_fallocate(out.fileno(), 0, size_mb << 20)
        except OSError as exc:
            image.unlink(missing_ok=True)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            free = shutil.disk_usage(image.parent).free >> 20
            raise NoRoom(
                f"no room under the jobs directory for the algorithm's {size_mb} MB volume ({free} MB free)"
            ) from None
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "nodiscard", "-b", "4096", str(image)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        ["mount", "-o", "loop,nosuid,nodev,noexec", str(image), str(outputs)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (outputs / "lost+found").rmdir()
    if owner is not None:
        os.chown(outputs, owner, owner)
    os.chmod(outputs, 0o700)
    return True


def unmount(job_dir: Path, outputs: Path) -> None:
    """Removes a job's volume (and whatever the algorithm wrote into it), if it has one."""
    if _plain(job_dir, outputs) and _mounted(outputs):
        done = subprocess.run(["umount", str(outputs)], capture_output=True, timeout=60)
        if done.returncode != 0:  # still in use by a stage that is being killed: detach it
            subprocess.run(["umount", "-l", str(outputs)], capture_output=True, timeout=60)
    if (job_dir.parent / VOLUMES).is_dir():
        _image(job_dir).unlink(missing_ok=True)

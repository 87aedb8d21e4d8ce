"""A throwaway PostgreSQL server on 127.0.0.1 for the tests (Debian's postgresql package).

PostgreSQL refuses to run as root; as root, the server runs as the `postgres` user."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from c2d.localchain import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or (
        [shutil.which(name)] if shutil.which(name) else []
    )
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return str(found[-1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh database; stops and removes the server afterwards."""
    as_user: list[str] = []
    base = tempfile.mkdtemp(prefix="c2d-pg-")
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(base, "data")
    port = free_port()
    subprocess.run([*as_user, _bin("initdb"), "-D", data, "-A", "trust", "-U", "c2d"], check=True, capture_output=True)
    server = subprocess.Popen(
        [
            *as_user,
            _bin("postgres"),
            "-D",
            data,
            "-k",
            base,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=port, user="c2d", dbname="postgres", connect_timeout=1):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("PostgreSQL did not start") from None
                time.sleep(0.1)
        yield f"postgresql+psycopg://c2d@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(base, ignore_errors=True)

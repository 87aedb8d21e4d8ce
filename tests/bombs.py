"""The disk bomb the executors' quota tests run, and how they count what it left."""

DISK_BOMB = """
import os
written = 0
try:
    for i in range(200):  # up to 200 MB, in 1 MB files
        with open(f"/data/outputs/bomb-{i:03d}", "wb") as out:
            out.write(os.urandom(1 << 20))
        written += 1
except OSError as exc:
    print(f"stopped after {written} MB: {exc.strerror}", flush=True)
print(f"wrote {written} MB", flush=True)
"""


def bytes_under(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())

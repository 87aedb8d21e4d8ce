"""The outside checks of the rendered stack: every variant's manifests (the Pulumi program under
Pulumi's mocks) through checkov (--framework kubernetes) and kubernetes-validate (--strict, the
newest schemas it bundles). Zero failures, or a checkov skip annotation with its reason on the
resource (`checkov.io/skip<n>: CKV_…=<reason>`).

    .venv/bin/python scripts/check-manifests.py [VARIANT ...]      (make test runs them all)

checkov asks Prisma Cloud for its guidelines unless told not to; it is told not to, and both
run in a network namespace of their own with only `lo` (no packet leaves this machine)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".toolchain" / "checks-venv" / "bin"
OUT = REPO / "build" / "checks"
KUBERNETES = "1.33.0"  # the newest schemas kubernetes-validate 1.37 bundles (none for 1.20)
# Custom resources of other projects (cert-manager's Issuer and Certificate): kubernetes-validate
# bundles no schema of theirs; checkov still reads them, and the mock tests check their fields.
FOREIGN_GROUPS = ("cert-manager.io/",)

sys.path.insert(0, str(REPO / "tests"))
from variants import VARIANTS  # noqa: E402  (the stack variants, shared with the mock tests)


def isolated() -> list[str]:
    """A prefix that runs a command without any network but loopback."""
    if os.geteuid() == 0:
        return ["unshare", "--net", "--"]
    return ["unshare", "--map-root-user", "--net", "--"]


def render(name: str, config: dict[str, str]) -> list[Path]:
    from c2d.infra.render import run

    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = []
    for n, manifest in enumerate(run(config).manifests()):
        path = folder / f"{n:02}-{manifest['kind']}-{manifest['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        files.append(path)
    return files


def checkov(folder: Path) -> tuple[int, int, int, list[str]]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1", "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [
            *isolated(),
            str(TOOLS / "checkov"),
            "-d",
            str(folder),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"checkov gave no report:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}") from None
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({Path(c['file_path']).name}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    return summary["passed"], summary["failed"], summary["skipped"], failed


def kubernetes_validate(files: list[Path]) -> tuple[int, list[str]]:
    done = subprocess.run(
        [*isolated(), str(TOOLS / "kubernetes-validate"), "--strict", "-k", KUBERNETES, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = (done.stdout + done.stderr).splitlines()
    passed = sum(1 for line in lines if re.match(r"^INFO .* passed for resource", line))
    problems = [line for line in lines if not line.startswith("INFO ") and line.strip()]
    if done.returncode and not problems:
        problems = [f"kubernetes-validate exited with {done.returncode}"]
    return passed, problems


def main(names: list[str]) -> int:
    if not (TOOLS / "checkov").exists():
        print("check-manifests: run scripts/setup.sh first (.toolchain/checks-venv)", file=sys.stderr)
        return 1
    bad = 0
    for name in names or list(VARIANTS):
        files = render(name, VARIANTS[name])
        passed, failed, skipped, failures = checkov(OUT / name)
        standard = [f for f in files if not yaml.safe_load(f.read_text())["apiVersion"].startswith(FOREIGN_GROUPS)]
        valid, problems = kubernetes_validate(standard)
        foreign = len(files) - len(standard)
        print(
            f"{name}: {len(files)} manifests; checkov {passed} passed, {failed} failed, {skipped} skipped; "
            f"kubernetes-validate {valid}/{len(standard)} valid (--strict, {KUBERNETES})"
            + (f", {foreign} cert-manager resources (no schema there)" if foreign else "")
        )
        for line in failures + problems:
            print(f"  {line}")
        bad += failed + len(problems) + (len(standard) - valid)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

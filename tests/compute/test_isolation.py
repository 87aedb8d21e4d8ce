"""What an algorithm cannot do in the local executor's sandbox. Each algorithm tries, writes
what happened to its outputs, and exits 0 only if the attempt failed; each test asserts the
final status and reason."""

import json

import pytest

from jobs import dataset_order, raw, wait_final


def run(consumer, consumer_api, dataset, code, environment=None):
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code), environment=environment)
    return job["jobId"], wait_final(consumer_api, job["jobId"], timeout=90)


def outcome(consumer_api, job_id, final):
    index = next(r["index"] for r in final["results"] if r["filename"] == "outcome.json")
    return json.loads(consumer_api.compute_result(job_id, index))


ATTEMPT = """
import json, os, socket, sys
def attempt():
{body}
try:
    result = attempt()
    blocked = False
except Exception as exc:
    result = f"{{type(exc).__name__}}: {{exc}}"
    blocked = True
json.dump({{"blocked": blocked, "result": str(result)}}, open("/data/outputs/outcome.json", "w"))
sys.exit(0 if blocked else 1)
"""


def attempt(body: str) -> str:
    return ATTEMPT.format(body="\n".join("    " + line for line in body.strip().splitlines()))


@pytest.fixture(scope="module")
def dataset(make_dataset):
    return make_dataset("numbers.csv")


def test_no_tcp_connection_even_to_the_stacks_own_services(stack, consumer, consumer_api, dataset):
    port = stack.provider.port
    job_id, final = run(
        consumer, consumer_api, dataset, attempt(f"return socket.create_connection(('127.0.0.1', {port}), 2)")
    )
    assert (final["status"], final["reason"]) == (70, ""), final
    assert "ConnectionRefusedError" in outcome(consumer_api, job_id, final)["result"]


def test_no_name_resolution(consumer, consumer_api, dataset):
    job_id, final = run(consumer, consumer_api, dataset, attempt("return socket.getaddrinfo('localhost', 80)"))
    assert final["status"] == 70, final
    assert "gaierror" in outcome(consumer_api, job_id, final)["result"]


def test_only_loopback_interface(consumer, consumer_api, dataset):
    job_id, final = run(
        consumer, consumer_api, dataset,
        attempt("names = [n for _, n in socket.if_nameindex()]\nassert names == ['lo'], names\nraise OSError(names)"),
    )  # fmt: skip
    assert final["status"] == 70, final
    assert outcome(consumer_api, job_id, final)["result"] == "OSError: ['lo']"


def test_cannot_read_the_providers_key_file(stack, consumer, consumer_api, dataset):
    job_id, final = run(
        consumer, consumer_api, dataset, attempt(f"return open({str(stack.provider_key_file)!r}).read()")
    )
    assert final["status"] == 70, final
    assert "FileNotFoundError" in outcome(consumer_api, job_id, final)["result"]


def test_cannot_read_another_jobs_data(stack, consumer, consumer_api, dataset):
    other_id, other = run(consumer, consumer_api, dataset, "open('/data/outputs/secret.txt', 'w').write('mine')")
    assert other["status"] == 70
    target = stack.jobs_dir / other_id / "data" / "results" / "secret.txt"
    assert target.read_text() == "mine"
    job_id, final = run(consumer, consumer_api, dataset, attempt(f"return open({str(target)!r}).read()"))
    assert final["status"] == 70, final
    assert "FileNotFoundError" in outcome(consumer_api, job_id, final)["result"]


@pytest.mark.parametrize(
    ("path", "refusal"),
    [
        ("/data/inputs/x", "OSError: [Errno 30] Read-only file system"),
        ("/data/x", "PermissionError: [Errno 13] Permission denied"),
        ("/tmp/x", "FileNotFoundError: [Errno 2] No such file or directory"),  # no /tmp at all
        ("/usr/x", "OSError: [Errno 30] Read-only file system"),
        ("/data/transformations/algorithm", "OSError: [Errno 30] Read-only file system"),
    ],
)
def test_cannot_write_outside_outputs(consumer, consumer_api, dataset, path, refusal):
    job_id, final = run(consumer, consumer_api, dataset, attempt(f"return open({path!r}, 'w').write('x')"))
    assert final["status"] == 70, final
    assert outcome(consumer_api, job_id, final)["result"] == f"{refusal}: {path!r}"


def test_runs_as_an_unprivileged_user_without_capabilities(consumer, consumer_api, dataset):
    body = "status = open('/proc/self/status').read()\nassert os.getuid() != 0\nraise PermissionError(os.getuid(), [l for l in status.splitlines() if l.startswith('CapEff')])"
    job_id, final = run(consumer, consumer_api, dataset, attempt(body))
    assert final["status"] == 70, final
    assert "CapEff:\\t0000000000000000" in outcome(consumer_api, job_id, final)["result"]


def test_memory_beyond_the_limit_ends_43(consumer, consumer_api, dataset):
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))"
    _, final = run(consumer, consumer_api, dataset, code, environment="tight")
    assert (final["status"], final["statusText"]) == (43, "Algorithm killed (out of memory or limits)"), final
    assert final["reason"] == "the algorithm exceeded its limits (64 MB memory)"


def test_fork_bomb_is_contained_and_ends_in_time(consumer, consumer_api, dataset):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    _, final = run(consumer, consumer_api, dataset, code, environment="tight")
    # Contained either way: the process cap holds the forks, and the deadline ends them (42),
    # unless their pages outgrow the 64 MB memory limit first (43), which depends on timing.
    assert (final["status"], final["reason"]) in {
        (42, "the algorithm ran past 3 s"),
        (43, "the algorithm exceeded its limits (64 MB memory)"),
    }, final
    # The machine is fine afterwards: the next job runs normally.
    _, after = run(consumer, consumer_api, dataset, "print('fine')")
    assert after["status"] == 70


def test_running_past_the_deadline_ends_42(consumer, consumer_api, dataset):
    _, final = run(consumer, consumer_api, dataset, "import time\ntime.sleep(60)", environment="tight")
    assert (final["status"], final["statusText"]) == (42, "Algorithm timed out"), final
    assert final["dateFinished"] - final["dateCreated"] < 15


def test_the_sandbox_shows_no_host_path_in_its_process_table(stack, consumer, consumer_api, dataset):
    code = (
        "import os, pathlib\n"
        "lines = []\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        lines.append(pathlib.Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\\0', b' ').decode())\n"
        "pathlib.Path('/data/outputs/cmdlines.txt').write_text('\\n'.join(lines))\n"
    )
    (job,) = consumer_api.compute_start(dataset_order(consumer, dataset), raw(code))
    final = wait_final(consumer_api, job["jobId"])
    assert final["status"] == 70, final
    index = next(r["index"] for r in final["results"] if r["filename"] == "cmdlines.txt")
    seen = consumer_api.compute_result(job["jobId"], index).decode()
    assert "bwrap --args" in seen  # the sandbox's init, its options read from a memory file
    assert str(stack.jobs_dir) not in seen and job["jobId"] not in seen, seen


PROBE = r"""
import json, os, socket, sys
import httpx
report = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "root": sorted(os.listdir("/"))}
report["caps"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm", "CapBnd"))]
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    report["tcp"] = "connected"
except OSError as exc:
    report["tcp"] = type(exc).__name__
client = httpx.Client(transport=httpx.HTTPTransport(uds="/run/c2d/provider.sock"), base_url=sys.argv[2])
report["provider"] = client.get("/").json().get("software", "?")
report["job"] = sorted(os.listdir("/job"))
print(json.dumps(report), flush=True)
"""


def test_configure_runs_as_an_unprivileged_user_and_reaches_only_the_provider(stack, tmp_path):
    """The local executor's trusted stages through the command the executor builds (a probe
    in place of configure): an ordinary user without capabilities, no network, the job's
    directory at /job, and the provider through the relay's socket."""
    import os
    import sys

    from c2d.operator.executors import sandbox
    from c2d.operator.executors.relay import ProviderRelay, relay_folder

    if os.geteuid() != 0:
        pytest.skip("the engine drops to an ordinary user only when it runs as root")
    job_dir = tmp_path / "job"
    (job_dir / "data" / "logs").mkdir(parents=True)
    os.chown(job_dir, sandbox.TRUSTED_UID, sandbox.TRUSTED_UID)
    (job_dir / "probe.py").write_text(PROBE)
    folder = relay_folder("probe-" + tmp_path.name)
    argv = [sys.executable, "/job/probe.py", str(stack.operator.port), stack.provider.url]
    with ProviderRelay(folder, stack.provider.url, sandbox.TRUSTED_UID):
        outcome = sandbox.run(
            lambda fd: sandbox.trusted_command(job_dir, argv, folder, sandbox.TRUSTED_UID, fd),
            sandbox.Limits(memory_mb=512, cpu=1.0, processes=64, file_size_mb=16, seconds=60),
            "probe-configure",
            job_dir / "data" / "logs" / "probe.log",
            {"PATH": "/usr/bin:/bin"},
            lambda: False,
        )
    log = (job_dir / "data" / "logs" / "probe.log").read_text()
    assert outcome.exit_code == 0, log
    report = json.loads(log.strip().splitlines()[-1])
    assert (report["uid"], report["gid"], report["groups"]) == (sandbox.TRUSTED_UID, sandbox.TRUSTED_UID, [])
    assert report["caps"] == ["0000000000000000"] * 3
    assert report["tcp"] == "ConnectionRefusedError"  # its own network: a loopback of its own, nothing listening
    assert report["provider"].startswith("c2d")
    assert "home" not in report["root"] and "etc" not in report["root"] and "job" in report["root"]
    assert report["job"] == ["data", "probe.py"]


SYSCALLS = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    result = getattr(libc, name)(*args)
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]
seen = {
    "unshare(CLONE_NEWUSER)": call("unshare", 0x10000000),
    "unshare(CLONE_NEWNS)": call("unshare", 0x00020000),
    "unshare(CLONE_NEWNET)": call("unshare", 0x40000000),
    "mount": call("mount", b"none", b"/data/outputs", b"tmpfs", 0, None),
    "ptrace": call("ptrace", 0, 0, 0, 0),
    "keyctl": call("syscall", 250, 0, 0, 0, 0),
    "bpf": call("syscall", 321, 0, 0, 0),
    "perf_event_open": call("syscall", 298, 0, 0, -1, -1, 0),
    "init_module": call("syscall", 175, 0, 0, 0),
}
import subprocess, threading
seen["fork+exec"] = "ok" if subprocess.run(["/bin/true"]).returncode == 0 else "failed"
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
seen["thread"] = "ok"
print(seen)
assert all(v == "EPERM" for k, v in seen.items() if k not in ("fork+exec", "thread")), seen
"""


def test_namespaces_mounts_tracing_keyrings_bpf_perf_and_modules_are_denied(consumer, consumer_api, dataset):
    """The sandbox's seccomp filter: an algorithm could create user and mount namespaces."""
    job_id, final = run(consumer, consumer_api, dataset, SYSCALLS)
    log = consumer_api.compute_logs(job_id).decode()
    assert final["status"] == 70, (final, log)
    assert "'fork+exec': 'ok'" in log and "'thread': 'ok'" in log

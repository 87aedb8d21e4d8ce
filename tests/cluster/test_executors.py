"""The paid compute flow on the docker and kubernetes executors (real Docker, real cluster),
against the local executor; the failure modes every executor must end correctly."""

import json
import subprocess
import time

import pytest
from bombs import DISK_BOMB, bytes_under
from kubernetes import client

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from c2d.operator import bootstrap, workflows
from jobs import ONE, algorithm_order, dataset_order, give, raw, wait_final, wait_status
from stacks import start_stack

CONTAINER_EXECUTORS = ["docker", "kubernetes"]
JOBS_NS = "c2d-jobs"


def outputs(api, final) -> dict[str, bytes]:
    return {
        r["filename"]: api.compute_result(final["jobId"], r["index"]) for r in final["results"] if r["type"] == "output"
    }


def start(apis, name, consumer, dataset, algorithm, **kwargs):
    (job,) = apis[name].compute_start(dataset_order(consumer, dataset), algorithm, **kwargs)
    return job["jobId"]


def test_paid_job_gives_the_same_results_on_every_executor(apis, assets, consumer):
    dataset, algorithm = assets
    results, logs = {}, {}
    for name in ("local", *CONTAINER_EXECUTORS):
        job_id = start(apis, name, consumer, dataset, algorithm_order(consumer, algorithm))
        final = wait_final(apis[name], job_id, timeout=90)
        assert (final["status"], final["statusText"]) == (70, "Job finished"), (name, final)
        kinds = {r["filename"]: r["type"] for r in final["results"]}
        assert kinds["algorithm.log"] == "algorithmLog" and kinds["configure.log"] == "configurationLog", name
        assert kinds["publish.log"] == "publishLog", name
        results[name] = outputs(apis[name], final)
        logs[name] = apis[name].compute_logs(job_id)
    assert results["local"]["total.txt"] == b"5050\n"
    assert set(results["local"]) == {"total.txt", "details/report.json"}
    for name in CONTAINER_EXECUTORS:
        assert results[name] == results["local"], name  # byte for byte
        assert b"summed 1 file(s): 5050" in logs[name], name


def test_the_algorithm_sees_the_same_layout_and_no_network(apis, assets, consumer):
    dataset, _ = assets
    code = (
        "import json, os, pathlib\n"
        "did = json.loads(os.environ['DIDS'])[0]\n"
        "print(sorted(os.listdir('/data')), sorted(os.listdir(f'/data/inputs/{did}')), os.getuid() != 0)\n"
        "import socket\n"
        "s = socket.socket()\n"
        "print('outside', s.connect_ex(('10.255.255.1', 80)))\n"
        "print('default route', any(line.split()[1] == '00000000' for line in open('/proc/net/route')))\n"
        "for place in ('/data/inputs/x', '/data/transformations/x', '/x'):\n"
        "    try:\n"
        "        pathlib.Path(place).write_text('x')\n"
        "        print('wrote', place)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    for name in CONTAINER_EXECUTORS:
        job_id = start(apis, name, consumer, dataset, raw(code))
        final = wait_final(apis[name], job_id, timeout=60)
        assert final["status"] == 70, (name, final)
        log = apis[name].compute_logs(job_id).decode()
        assert "['ddos', 'inputs', 'outputs', 'transformations'] ['0'] True" in log, (name, log)
        assert "outside 101" in log and "default route False" in log, (name, log)  # ENETUNREACH
        assert "wrote" not in log, (name, log)


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_failures_end_with_the_right_status(name, apis, assets, consumer):
    dataset, _ = assets
    api = apis[name]
    cases = {
        "crash": (raw("raise SystemExit('bad input')"), "default", 41),
        "memory": (raw("x = bytearray(400 * 1024 * 1024)\nprint(len(x))"), "tight", 43),
        "deadline": (raw("import time\ntime.sleep(60)"), "tight", 42),
    }
    jobs = {case: start(apis, name, consumer, dataset, algo, environment=env) for case, (algo, env, _) in cases.items()}
    for case, job_id in jobs.items():
        final = wait_final(api, job_id, timeout=90)
        assert final["status"] == cases[case][2], (name, case, final)
    assert b"bad input" in api.compute_logs(jobs["crash"])


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_stop_ends_the_job_at_once(name, apis, assets, consumer, kube, stacks):
    dataset, _ = assets
    api = apis[name]
    job_id = start(apis, name, consumer, dataset, raw("import time\ntime.sleep(120)"))
    wait_status(api, job_id, 40, timeout=60)
    time.sleep(1)
    api.compute_stop(job_id)
    stopped = time.monotonic()
    final = wait_final(api, job_id, timeout=30)
    assert final["status"] == 80, final
    if name == "kubernetes":
        core = client.CoreV1Api(kube)
        while core.list_namespaced_pod(JOBS_NS, label_selector=f"workflow={job_id}").items:
            assert time.monotonic() - stopped < 5, "the job's pods outlived the stop by 5 s"
            time.sleep(0.1)
    assert time.monotonic() - stopped < 5


def test_a_pod_the_cluster_refuses_ends_the_job_at_once(apis, assets, consumer, kube, stacks):
    """A LimitRange that forbids the stages' memory: the Job's pod is never created. The stage
    ends as soon as the cluster says so (its FailedCreate event), not at its time bound."""
    dataset, _ = assets
    core = client.CoreV1Api(kube)
    log = stacks["kubernetes"].engine.log_path  # its start probes the nodes with a pod: let it first
    deadline = time.monotonic() + 120
    while b"engine started" not in log.read_bytes():
        assert time.monotonic() < deadline, "the kubernetes engine did not start"
        time.sleep(0.5)
    tight = {
        "metadata": {"name": "test-tight"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "128Mi"}}]},
    }
    core.create_namespaced_limit_range(JOBS_NS, tight)
    try:
        started = time.monotonic()
        job_id = start(apis, "kubernetes", consumer, dataset, raw("print(1)"))
        final = wait_final(apis["kubernetes"], job_id, timeout=90)
        took = time.monotonic() - started
    finally:
        core.delete_namespaced_limit_range("test-tight", JOBS_NS)
    assert final["status"] == 31, final  # configure, the first stage, could not start
    assert "could not start: the cluster refused its pod" in final["reason"], final
    assert "128Mi" not in final["reason"] and "maximum memory usage per Container is 128Mi" in log.read_text()
    assert took < 60, took


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_engine_killed_mid_job_then_restarted(name, apis, assets, consumer, stacks):
    dataset, _ = assets
    api = apis[name]
    code = "import time, pathlib\ntime.sleep(6)\npathlib.Path('/data/outputs/done.txt').write_text('done')\n"
    job_id = start(apis, name, consumer, dataset, raw(code))
    wait_status(api, job_id, 40, timeout=60)
    stacks[name].engine.kill()
    time.sleep(1)
    stacks[name].engine.start()
    final = wait_final(api, job_id, timeout=60)
    assert final["status"] == 70, final
    assert outputs(api, final) == {"done.txt": b"done"}


# ---- kubernetes only ----


def test_workflow_follows_the_job_and_pods_are_cleaned_up(apis, assets, consumer, kube):
    dataset, algorithm = assets
    api = apis["kubernetes"]
    job_id = start(apis, "kubernetes", consumer, dataset, algorithm_order(consumer, algorithm))
    custom = client.CustomObjectsApi(kube)
    final = wait_final(api, job_id, timeout=90)
    assert final["status"] == 70
    workflow = custom.get_namespaced_custom_object(
        workflows.GROUP, workflows.VERSION, JOBS_NS, workflows.PLURAL, job_id
    )
    assert workflow["spec"]["owner"] == consumer.address.lower()
    assert workflow["spec"]["datasets"] == [dataset.did]
    assert workflow["status"]["statusCode"] == 70 and workflow["status"]["statusText"] == "Job finished"
    assert "file://" not in json.dumps(workflow) and "url" not in json.dumps(workflow).lower()
    core, batch = client.CoreV1Api(kube), client.BatchV1Api(kube)
    deadline = time.monotonic() + 15
    while core.list_namespaced_pod(JOBS_NS, label_selector=f"workflow={job_id}").items:
        assert time.monotonic() < deadline, "finished job's pods were not cleaned up"
        time.sleep(0.2)
    assert not batch.list_namespaced_job(JOBS_NS, label_selector=f"workflow={job_id}").items


def test_stage_pods_are_locked_down(apis, assets, consumer, kube):
    dataset, _ = assets
    api = apis["kubernetes"]
    job_id = start(apis, "kubernetes", consumer, dataset, raw("import time\ntime.sleep(5)"))
    wait_status(api, job_id, 40, timeout=60)
    batch = client.BatchV1Api(kube)
    # The engine records status 40, then creates the algorithm's Job: under load, a moment later.
    deadline = time.monotonic() + 30
    while not (
        jobs := batch.list_namespaced_job(JOBS_NS, label_selector=f"workflow={job_id},component=algorithm").items
    ):
        assert time.monotonic() < deadline, "no algorithm Job for a running job"
        time.sleep(0.2)
    (job,) = jobs
    # its maxDuration, its startTimeout, and its wait for configure (started ahead): 600 + 60
    assert job.spec.active_deadline_seconds == 60 + 300 + 660 and job.spec.backoff_limit == 0
    pod = job.spec.template.spec
    assert pod.automount_service_account_token is False and not pod.host_network
    assert pod.security_context.run_as_non_root and pod.security_context.run_as_user == 10001
    (container,) = pod.containers
    sc = container.security_context
    assert sc.allow_privilege_escalation is False and sc.read_only_root_filesystem is True
    assert sc.capabilities.drop == ["ALL"]
    # /tmp (min(diskMb, 1024)), twice the log limit (16 MB) and 16 MB: what it may write besides /data
    assert container.resources.limits == {"cpu": "1", "memory": "256Mi", "ephemeral-storage": "1072Mi"}
    assert container.resources.requests == {"cpu": "1", "memory": "256Mi"}
    assert pod.enable_service_links is False
    shm = next(v for v in pod.volumes if v.name == "shm")
    assert (shm.empty_dir.medium, shm.empty_dir.size_limit) == ("Memory", "64Mi")
    mounts = {m.mount_path: m.read_only for m in container.volume_mounts}
    assert mounts["/data/inputs"] and mounts["/data/ddos"] and mounts["/data/transformations"]
    assert not mounts["/data/outputs"]
    assert mounts["/run/c2d"]  # the signals, read-only: it waited there for configure
    assert "until [ -e /run/c2d/configured ]" in container.command[-1]
    assert job.metadata.labels["workflow"] == job_id and job.metadata.labels["component"] == "algorithm"
    # publish, started ahead, waits beside it asking for little (its limits as before)
    (publish,) = batch.list_namespaced_job(JOBS_NS, label_selector=f"workflow={job_id},component=publish").items
    (waiting,) = publish.spec.template.spec.containers
    assert waiting.command[-2] == "--wait" and waiting.resources.requests == {"cpu": "100m", "memory": "64Mi"}
    assert waiting.resources.limits["memory"] == "512Mi"
    assert wait_final(api, job_id, timeout=60)["status"] == 70


@pytest.mark.parametrize(
    "spec",
    [
        {"owner": "0x" + "a" * 40, "environment": "default"},  # no jobId
        {"jobId": "Bad_ID", "owner": "0x" + "a" * 40, "environment": "default"},
        {"jobId": "abc", "owner": "not-an-address", "environment": "default"},
        {"jobId": "abc", "owner": "0x" + "a" * 40, "environment": "default", "stopRequested": "yes"},
    ],
)
def test_malformed_workflows_are_rejected_by_the_schema(kube, spec):
    custom = client.CustomObjectsApi(kube)
    body = {"apiVersion": f"{workflows.GROUP}/{workflows.VERSION}", "kind": workflows.KIND}
    body["metadata"] = {"name": "malformed"}
    body["spec"] = spec
    with pytest.raises(client.exceptions.ApiException) as raised:
        custom.create_namespaced_custom_object(workflows.GROUP, workflows.VERSION, JOBS_NS, workflows.PLURAL, body)
    assert raised.value.status == 422


def test_a_bad_status_is_rejected_by_the_schema(kube):
    custom = client.CustomObjectsApi(kube)
    name = "schema-check"
    body = {
        "apiVersion": f"{workflows.GROUP}/{workflows.VERSION}",
        "kind": workflows.KIND,
        "metadata": {"name": name},
        "spec": {"jobId": name, "owner": "0x" + "a" * 40, "environment": "default"},
    }
    try:
        custom.create_namespaced_custom_object(workflows.GROUP, workflows.VERSION, JOBS_NS, workflows.PLURAL, body)
        with pytest.raises(client.exceptions.ApiException) as raised:
            custom.patch_namespaced_custom_object_status(
                workflows.GROUP, workflows.VERSION, JOBS_NS, workflows.PLURAL, name, {"status": {"statusCode": 55}}
            )
        assert raised.value.status == 422
    finally:
        custom.delete_namespaced_custom_object(workflows.GROUP, workflows.VERSION, JOBS_NS, workflows.PLURAL, name)


def test_stopping_through_the_workflow(apis, assets, consumer, kube):
    """An administrator's `kubectl patch workflow ... stopRequested: true` stops the job (kopf)."""
    dataset, _ = assets
    api = apis["kubernetes"]
    job_id = start(apis, "kubernetes", consumer, dataset, raw("import time\ntime.sleep(120)"))
    wait_status(api, job_id, 40, timeout=60)
    custom = client.CustomObjectsApi(kube)
    custom.patch_namespaced_custom_object(
        workflows.GROUP, workflows.VERSION, JOBS_NS, workflows.PLURAL, job_id, {"spec": {"stopRequested": True}}
    )
    assert wait_final(api, job_id, timeout=30)["status"] == 80


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_a_long_log_is_cut_on_purpose_and_says_so(name, apis, assets, consumer):
    """5 MB of output into a 1 MB log limit: the log keeps the first MB, its last line and the
    job's reason say it was cut (the kubernetes executor used to cut long logs silently)."""
    dataset, _ = assets
    code = "import sys\nfor _ in range(5):\n    sys.stdout.write('y' * (1 << 20))\nprint('the end')\n"
    job_id = start(apis, name, consumer, dataset, raw(code), environment="short-log")
    final = wait_final(apis[name], job_id, timeout=90)
    assert final["status"] == 70, (name, final)
    assert "log was cut at 1 MB" in final["reason"], (name, final)
    log = next(r for r in final["results"] if r["type"] == "algorithmLog")
    text = apis[name].compute_result(job_id, log["index"])
    assert text.startswith(b"y" * (1 << 20)), name
    assert b"\n[c2d] this log was cut at 1048576 bytes: " in text[-120:], (name, text[-120:])
    assert b"the end" not in text and len(text) < (1 << 20) + 120, name


def test_docker_configure_has_no_network_and_job_directories_are_private(apis, assets, consumer, stacks):
    """Configure containers get no network (the provider through the engine's relay socket);
    a job's directory is its stage user's alone."""
    import os
    import stat
    import subprocess

    dataset, _ = assets
    docker_host = stacks["docker"].engine.env["C2D_DOCKER_HOST"]
    since = str(int(time.time()) - 1)
    job_id = start(apis, "docker", consumer, dataset, raw("print('hello')"))
    final = wait_final(apis["docker"], job_id, timeout=120)
    assert final["status"] == 70, final  # configure fetched the input through the relay
    events = subprocess.run(
        ["docker", "events", "--since", since, "--until", str(int(time.time()) + 1), "--format", "{{json .}}"],
        env={**os.environ, "DOCKER_HOST": docker_host},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    records = [json.loads(line) for line in events]
    names = {
        r["Actor"]["ID"]: r["Actor"]["Attributes"].get("name")
        for r in records
        if r.get("Type") == "container" and r.get("Action") == "create"
    }
    networks: dict[str, set[str]] = {}
    for r in records:
        if r.get("Type") == "network" and r.get("Action") == "connect":
            container = names.get(r["Actor"]["Attributes"].get("container", ""), "")
            networks.setdefault(container, set()).add(r["Actor"]["Attributes"].get("name", ""))
    assert networks[f"c2d-{job_id}-configure"] == {"none"}, networks
    assert networks[f"c2d-{job_id}-algorithm"] == {"none"}, networks
    job_dir = stacks["docker"].jobs_dir / job_id
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((job_dir / "job.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(stacks["docker"].jobs_dir.stat().st_mode) == 0o711


SHM_BOMB = """
import os
written = 0
try:
    with open("/dev/shm/bomb", "wb") as out:
        for _ in range(300):
            out.write(os.urandom(1 << 20))
            out.flush()
            written += 1
except OSError as exc:
    print(f"stopped after {written} MB: {exc.strerror}", flush=True)
print(f"wrote {written} MB", flush=True)
"""


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_a_disk_bomb_stops_at_the_quota_and_leaves_only_logs(name, apis, open_dataset, consumer, stacks):
    """Kubernetes here: the engine's loop volume in the node's (hostPath) jobs directory. Under
    the open policy: publish's own output limit is what stops it."""
    dataset = open_dataset
    job_id = start(apis, name, consumer, dataset, raw(DISK_BOMB), environment="small-disk")
    final = wait_final(apis[name], job_id, timeout=120)
    assert final["status"] == 61, final
    log = apis[name].compute_logs(job_id).decode()
    assert "No space left on device" in log and int(log.split("wrote ")[1].split(" MB")[0]) <= 64, log
    assert {"algorithm.log", "configure.log", "publish.log"} <= {r["filename"] for r in final["results"]}
    job_dir = stacks[name].jobs_dir / job_id
    assert not (stacks[name].jobs_dir / ".volumes" / f"{job_id}.img").exists()
    assert bytes_under(job_dir) - bytes_under(job_dir / "data" / "logs") < 64 << 10


OUTPUTS_CLASS = bootstrap.TEST_OUTPUTS_CLASS


@pytest.fixture(scope="module")
def claims(kube, kubeconfig, tmp_path_factory, published, ganache, addresses_file, keys):
    """A kubernetes stack whose jobs claim their outputs volume from a storage class, as on a
    cloud's cluster: here the class has local PersistentVolumes of 64 MiB ext4 file systems
    (loop-mounted), the way a provisioner would make them, bound by the cluster's controllers."""
    core = client.CoreV1Api(kube)
    storage = client.StorageV1Api(kube)
    node = core.list_node().items[0].metadata.name
    root = tmp_path_factory.mktemp("claims")
    storage.create_storage_class(
        {
            "metadata": {"name": OUTPUTS_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    volumes = []
    try:
        for i, size_mb in enumerate((1024, 64, 64)):  # the default environment's diskMb, small-disk's
            name, mountpoint = f"c2d-test-outputs-{i}", root / f"pv-{i}"
            _local_volume(core, name, mountpoint, node, size_mb)
            volumes.append((name, mountpoint))
        engine_config = bootstrap.account_kubeconfig(
            kube, kubeconfig, bootstrap.ENGINE_ACCOUNT, root / "engine.kubeconfig"
        )
        service_config = bootstrap.account_kubeconfig(
            kube, kubeconfig, bootstrap.SERVICE_ACCOUNT, root / "service.kubeconfig"
        )
        engine = {
            "executor": "kubernetes",
            "kubeconfig": engine_config,
            "kube_namespace": JOBS_NS,
            "kube_loopback": True,
            "kube_outputs_class": OUTPUTS_CLASS,
        }
        (root / "stack").mkdir()
        stack = start_stack(
            root / "stack", published, ganache, addresses_file, keys, engine, {"kubeconfig": service_config}
        )
        api = ProviderClient(stack.provider.url, keys[2])
        yield api, stack, core
        api.close()
        stack.stop()
    finally:
        for name, mountpoint in volumes:
            core.delete_persistent_volume(name)
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        storage.delete_storage_class(OUTPUTS_CLASS)


def _local_volume(core, name, mountpoint, node, size_mb):
    """A PersistentVolume of a fresh ext4 file system (sparse), loop-mounted at `mountpoint`."""
    image = mountpoint.with_suffix(".img")
    mountpoint.mkdir()
    with open(image, "wb") as out:
        out.truncate(size_mb << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
    on_node = {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
    core.create_persistent_volume(
        {
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": f"{size_mb}Mi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": OUTPUTS_CLASS,
                "local": {"path": str(mountpoint)},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [on_node]}]}},
            },
        }
    )


def _claims_of(core, job_id):
    return core.list_namespaced_persistent_volume_claim(JOBS_NS, label_selector=f"workflow={job_id}").items


def test_outputs_on_a_claim_have_a_hard_size_and_go_with_the_job(claims, assets, open_dataset, consumer):
    api, stack, core = claims
    dataset, algorithm = assets
    (job,) = api.compute_start(dataset_order(consumer, dataset), algorithm_order(consumer, algorithm))
    final = wait_final(api, job["jobId"], timeout=180)
    assert final["status"] == 70, final
    made = outputs(api, final)
    assert set(made) == {"total.txt", "details/report.json"} and made["total.txt"] == b"5050\n"
    (bomb,) = api.compute_start(dataset_order(consumer, open_dataset), raw(DISK_BOMB), environment="small-disk")
    final = wait_final(api, bomb["jobId"], timeout=180)
    assert final["status"] == 61, final
    log = api.compute_logs(bomb["jobId"]).decode()
    assert "No space left on device" in log and int(log.split("wrote ")[1].split(" MB")[0]) <= 64, log
    job_dir = stack.jobs_dir / bomb["jobId"]
    assert bytes_under(job_dir) - bytes_under(job_dir / "data" / "logs") < 64 << 10
    deadline = time.monotonic() + 60
    while (_claims_of(core, job["jobId"]) or _claims_of(core, bomb["jobId"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _claims_of(core, job["jobId"]) and not _claims_of(core, bomb["jobId"])


@pytest.mark.parametrize("name", CONTAINER_EXECUTORS)
def test_dev_shm_is_bounded(name, apis, assets, consumer):
    dataset, _ = assets
    job_id = start(apis, name, consumer, dataset, raw(SHM_BOMB), environment="small-disk")
    final = wait_final(apis[name], job_id, timeout=120)
    log = apis[name].compute_logs(job_id).decode()
    if final["status"] == 43:  # its pages count as the pod's memory: killed at the memory limit
        assert name == "kubernetes", final
        return
    assert final["status"] == 70, final
    assert "No space left on device" in log and int(log.split("wrote ")[1].split(" MB")[0]) <= 64, log


FORKS = """
import os
children = 0
try:
    for _ in range(3000):
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "60"])
        children += 1
except OSError as exc:
    print(f"fork failed: {exc.strerror}", flush=True)
print(f"children {children}", flush=True)
"""


@pytest.mark.parametrize(("name", "bound", "environment"), [("docker", 16, "tight"), ("kubernetes", 256, "default")])
def test_processes_are_bounded(name, bound, environment, apis, assets, consumer):
    """docker: the environment's maxProcesses (16 in "tight"); kubernetes: the node's pod PID
    limit (the kubelet's podPidsLimit, 256 on the test cluster; a node requirement)."""
    dataset, _ = assets
    job_id = start(apis, name, consumer, dataset, raw(FORKS), environment=environment)
    final = wait_final(apis[name], job_id, timeout=90)
    log = apis[name].compute_logs(job_id).decode()
    assert final["status"] == 70, (final, log)
    children = int(log.split("children ")[1].split()[0])
    assert "fork failed" in log and children < bound, log
    print(f"{name}: a fork bomb stopped at {children} processes")


def test_the_engine_checks_the_nodes_pod_pid_limit(stacks):
    """The kubelet's pod PID limit is a node requirement (it alone bounds an algorithm pod's
    processes): an engine that finds pods may run as many processes as it allows refuses to start."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    c2d = Path(sys.executable).parent / "c2d"
    env = {**os.environ, **stacks["kubernetes"].engine.env, "C2D_KUBE_MAX_POD_PIDS": "200", "COLUMNS": "200"}
    done = subprocess.run([str(c2d), "operator-engine"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a pod on this cluster can run 200 or more processes" in done.stdout, done.stdout
    # the stack's own engine, with the default (1024), started: the test cluster's limit is 256
    assert stacks["kubernetes"].engine.alive()


NETWORK_PROBE = """
import json, socket
seen = {"interfaces": sorted(n for _, n in socket.if_nameindex())}
for name, address in %s.items():
    try:
        socket.create_connection(address, 3).close()
        seen[name] = "connected"
    except OSError as exc:
        seen[name] = type(exc).__name__
print(json.dumps(seen), flush=True)
"""


def test_a_docker_algorithm_allowed_the_network_gets_a_guarded_one(apis, stacks, publisher, consumer, keys):
    """It had the host's network (every loopback service, the metadata address); now its own
    namespace with slirp4netns, whose packets to the host and private ranges are rejected before
    they leave (REJECT in this host's OUTPUT chain: nothing reaches a wire)."""
    publisher_api = ProviderClient(stacks["local"].provider.url, keys[1])
    privacy = Privacy(allowRawAlgorithm=True, allowNetworkAccess=True)
    dataset = publish(
        publisher,
        publisher_api,
        "Networked",
        [PublishedFile.local(stacks["local"].data_root / "numbers.csv", "text/plain")],
        Services(compute_cost=ONE, privacy=privacy),
    )
    publisher_api.close()
    give(publisher, consumer, dataset, 10 * ONE)
    port = stacks["docker"].provider.port
    targets = {
        "host loopback": ("127.0.0.1", port),
        "slirp gateway": ("10.0.2.2", port),
        "private": ("10.255.255.1", 80),
        "metadata": ("169.254.169.254", 80),
    }
    rejected_before = _usernet_rejects()
    job_id = start(apis, "docker", consumer, dataset, raw(NETWORK_PROBE % json.dumps(targets)), environment="net")
    final = wait_final(apis["docker"], job_id, timeout=120)
    log = apis["docker"].compute_logs(job_id).decode()
    assert final["status"] == 70, (final, log)
    seen = json.loads(log.strip().splitlines()[-1])
    assert seen["interfaces"] == ["lo", "tap0"], seen
    assert all(seen[name] != "connected" for name in targets), seen
    # the private and metadata attempts were stopped by the guard on this host, not by a wire
    assert _usernet_rejects() >= rejected_before + 2


def _usernet_rejects() -> int:
    import subprocess

    from c2d.operator.executors.usernet import CHAIN

    out = subprocess.run(["iptables", "-w", "-L", CHAIN, "-v", "-x", "-n"], capture_output=True, text=True)
    return sum(int(line.split()[0]) for line in out.stdout.splitlines() if "REJECT" in line)

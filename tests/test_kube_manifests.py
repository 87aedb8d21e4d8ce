"""Where the kubernetes executor's stage pods find their job directory: a sub-path of the jobs
claim (under C2D_KUBE_JOBS_SUBPATH, as in the deployment, whose claim also holds the operator's
state), or a hostPath of the engine's jobs_dir. No cluster is called to build a manifest."""

import pytest

from c2d.job.status import Status
from c2d.operator.environments import Environment
from c2d.operator.executors.base import plan
from c2d.operator.executors.kubernetes import KubernetesExecutor
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import Job
from jobs import job_spec

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def manifest(tmp_path, stage, claimed=True, env=None, spec=None, **settings):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    config = OperatorSettings(
        jobs_dir=tmp_path / "jobs",
        operator_providers="0x" + "11" * 20,
        operator_key="0x" + "08" * 32,
        provider_url="http://127.0.0.1:8030",
        executor="kubernetes",
        kubeconfig=tmp_path / "kubeconfig",
        **settings,
    )
    job = Job(
        "a" * 32,
        1,
        "0x" + "34" * 20,
        "default",
        spec or job_spec(),
        Status.CONFIGURING,
        "",
        0,
        0,
        None,
        False,
        0,
    )
    env = env or Environment(id="default")
    pod = KubernetesExecutor(config).manifest(job, plan(stage, job, env, config), claimed)
    return pod["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("settings", "volume", "sub_path"),
    [
        ({"kube_jobs_claim": "c2d-jobs", "kube_jobs_subpath": "jobs"}, {"claimName": "c2d-jobs"}, "jobs/" + "a" * 32),
        ({"kube_jobs_claim": "c2d-jobs", "kube_jobs_subpath": "/jobs/"}, {"claimName": "c2d-jobs"}, "jobs/" + "a" * 32),
        ({"kube_jobs_claim": "c2d-jobs"}, {"claimName": "c2d-jobs"}, "a" * 32),
        ({}, None, "a" * 32),
    ],
)
def test_stage_pods_mount_their_job_directory(tmp_path, settings, volume, sub_path):
    pod = manifest(tmp_path, "configure", **settings)
    (jobs,) = [v for v in pod["volumes"] if v["name"] == "jobs"]
    if volume:
        assert jobs["persistentVolumeClaim"] == volume
    else:
        assert jobs["hostPath"]["path"] == str(tmp_path / "jobs")
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "jobs"]
    assert (mount["mountPath"], mount["subPath"]) == ("/job", sub_path)
    algorithm = manifest(tmp_path, "algorithm", **settings)
    paths = {m["mountPath"]: m["subPath"] for m in algorithm["containers"][0]["volumeMounts"] if m["name"] == "jobs"}
    assert paths["/data/inputs"] == f"{sub_path}/data/inputs"


def test_outputs_claims_are_mounted_by_the_algorithm_and_publish_only(tmp_path):
    """With kube_outputs_class the outputs are the job's claim, in both stages that use them
    (publish: beside its job folder, a subPath mount not carrying what is mounted below it)."""
    claim = {"name": "outputs", "persistentVolumeClaim": {"claimName": "a" * 32 + "-outputs"}}
    for stage, target, read_only in (("algorithm", "/data/outputs", False), ("publish", "/job/data/outputs", False)):
        pod = manifest(tmp_path, stage, kube_jobs_claim="c2d-jobs", kube_outputs_class="gp3")
        assert claim in pod["volumes"], stage
        assert {"name": "outputs", "mountPath": target, "readOnly": read_only} in pod["containers"][0]["volumeMounts"]
        assert pod["securityContext"]["fsGroup"] == 10001, stage
    # a job without a claim (the class came after its algorithm ran): publish reads the shared folder
    unclaimed = manifest(tmp_path, "publish", claimed=False, kube_jobs_claim="c2d-jobs", kube_outputs_class="gp3")
    assert claim not in unclaimed["volumes"] and "fsGroup" not in unclaimed["securityContext"]
    shared = {m["mountPath"]: m["subPath"] for m in unclaimed["containers"][0]["volumeMounts"] if m["name"] == "jobs"}
    assert shared["/job/data/outputs"] == "a" * 32 + "/data/outputs"
    configure = manifest(tmp_path, "configure", kube_jobs_claim="c2d-jobs", kube_outputs_class="gp3")
    assert claim not in configure["volumes"] and "fsGroup" not in configure["securityContext"]
    plain = manifest(tmp_path, "publish")  # hostPath: the engine's loop volume, bound at its folder
    mounts = {m["mountPath"]: m["subPath"] for m in plain["containers"][0]["volumeMounts"] if m["name"] == "jobs"}
    assert mounts == {"/job": "a" * 32, "/job/data/outputs": "a" * 32 + "/data/outputs"}
    assert not any(v["name"] == "outputs" for v in plain["volumes"])


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("loopback", [False, True])
def test_the_algorithm_pod_runs_its_own_image_as_its_environment_says(tmp_path, loopback):
    container = {"entrypoint": "Rscript $ALGO", "image": "registry.example.org/r-base", "tag": "4", "checksum": DIGEST}
    spec = job_spec(algorithm={"rawcode": "1", "container": container})
    env = Environment(
        id="default", pullPolicy="always", pullSecret="regcred", gpus=2, gpuResource="amd.com/gpu", startTimeout=90,
        maxDuration=30,
    )  # fmt: skip
    pod = manifest(tmp_path, "algorithm", env=env, spec=spec, kube_loopback=loopback)
    (algorithm,) = pod["containers"]
    assert algorithm["image"] == f"registry.example.org/r-base@{DIGEST}"
    assert algorithm["command"] == ["/bin/sh", "-c", "Rscript /data/transformations/algorithm"]
    assert algorithm["resources"]["limits"]["amd.com/gpu"] == algorithm["resources"]["requests"]["amd.com/gpu"] == "2"
    # a loopback cluster has no registry: it never pulls, and has no use for credentials
    assert algorithm["imagePullPolicy"] == ("Never" if loopback else "Always")
    assert pod.get("imagePullSecrets") == (None if loopback else [{"name": "regcred"}])
    configure = manifest(tmp_path, "configure", env=env, spec=spec, kube_loopback=loopback)
    assert "imagePullSecrets" not in configure and "amd.com/gpu" not in str(configure["containers"][0]["resources"])
    # GPU nodes are tainted (the stack's GPU pools): the algorithm tolerates it, nothing else does
    assert pod["tolerations"] == [{"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "tolerations" not in configure


def test_configure_reads_the_operator_key_from_a_secret_file_and_no_stage_has_it_in_its_environment(tmp_path):
    configure = manifest(tmp_path, "configure")
    (container,) = configure["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["C2D_OPERATOR_KEY_FILE"]["value"] == "/run/c2d-key/operator-key" and "C2D_OPERATOR_KEY" not in env
    assert not any("valueFrom" in e for e in container["env"])
    assert {"name": "operator-key", "mountPath": "/run/c2d-key", "readOnly": True} in container["volumeMounts"]
    (key,) = [v for v in configure["volumes"] if v["name"] == "operator-key"]
    assert key["secret"] == {
        "secretName": "c2d-operator-key",
        "items": [{"key": "operator-key", "path": "operator-key"}],
        "defaultMode": 0o444,
    }
    for stage in ("algorithm", "publish"):
        pod = manifest(tmp_path, stage)
        assert not any(v["name"] == "operator-key" for v in pod["volumes"]), stage
        assert "KEY" not in str([e["name"] for e in pod["containers"][0]["env"]]), stage


def test_a_gvisor_environment_gives_its_algorithm_pod_and_only_it_the_gvisor_runtime_class(tmp_path):
    gvisor = Environment(id="default", runtime="gvisor")
    assert manifest(tmp_path, "algorithm", env=gvisor)["runtimeClassName"] == "gvisor"
    assert manifest(tmp_path, "algorithm", env=gvisor, kube_gvisor_class="gke-sandbox")["runtimeClassName"] == (
        "gke-sandbox"
    )
    for stage in ("configure", "publish"):  # c2d's own stages keep the nodes' runtime
        assert "runtimeClassName" not in manifest(tmp_path, stage, env=gvisor)
    assert "runtimeClassName" not in manifest(tmp_path, "algorithm", env=Environment(id="default"))
    with pytest.raises(ValueError, match="without a network"):
        Environment(id="default", runtime="gvisor", network=True)

"""The Pulumi program under Pulumi's mocks: what it declares, field by field."""

import ipaddress
import json

import pytest

from c2d.infra.config import ConfigError
from c2d.infra.render import run
from variants import DIGESTS, VARIANTS
from variants import KEYS as ONLY_KEYS

# the keys and each image's digest: what every stack of prebuilt images needs
KEYS = {**ONLY_KEYS, "c2d:imageDigests": json.dumps(DIGESTS)}


@pytest.fixture(scope="module")
def stack():
    return run(dict(KEYS))


def _egress_allows(policy, address):
    """Whether a NetworkPolicy's ipBlock egress rules let `address` out (any port)."""
    ip = ipaddress.ip_address(address)
    for rule in policy["egress"]:
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None or ip.version != ipaddress.ip_network(block["cidr"]).version:
                continue
            if ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except", [])
            ):
                return True
    return False


def named(recorded, kind, name):
    (found,) = [m for m in recorded.of_kind(kind) if m["metadata"]["name"] == name]
    return found


def cpu(quantity):
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def pods(recorded):
    for kind in ("Deployment", "Job"):
        for manifest in recorded.of_kind(kind):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


def test_every_pod_runs_locked_down(stack):
    seen = set()
    for name, pod in pods(stack):
        seen.add(name)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["enableServiceLinks"] is False, name
        assert not pod.get("hostNetwork"), name
        wants_token = name in ("c2d-operator-service", "c2d-operator-engine", "c2d-contracts")
        assert pod["automountServiceAccountToken"] is wants_token, name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            assert requests["memory"] == limits["memory"], name
            assert cpu(requests["cpu"]) <= cpu(limits["cpu"]) <= 1, name
            assert container["imagePullPolicy"] == "IfNotPresent", name
    assert seen == {"c2d-ganache", "c2d-provider", "c2d-operator-service", "c2d-operator-engine", "c2d-contracts"}


def test_services_have_probes(stack):
    for name, pod in pods(stack):
        if name == "c2d-contracts":
            continue
        (container,) = pod["containers"]
        assert "readinessProbe" in container and "livenessProbe" in container, name
    provider = named(stack, "Deployment", "c2d-provider")["spec"]["template"]["spec"]["containers"][0]
    assert provider["readinessProbe"]["httpGet"] == {"path": "/", "port": 8030}
    engine = named(stack, "Deployment", "c2d-operator-engine")["spec"]["template"]["spec"]["containers"][0]
    assert engine["livenessProbe"]["exec"]["command"] == ["python", "-m", "c2d.heartbeat"]


def test_rbac_is_exactly_what_each_part_needs(stack):
    roles = {m["metadata"]["name"]: m for m in stack.of_kind("Role")}
    assert set(roles) == {"c2d-operator-engine", "c2d-operator-service", "c2d-contracts"}
    assert roles["c2d-operator-engine"]["metadata"]["namespace"] == "c2d-jobs"
    assert roles["c2d-operator-engine"]["rules"] == [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete", "deletecollection"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
        {"apiGroups": ["c2d.dev"], "resources": ["workflows"], "verbs": ["get", "list", "watch", "patch", "delete"]},
        {"apiGroups": ["c2d.dev"], "resources": ["workflows/status"], "verbs": ["get", "patch"]},
    ]
    assert roles["c2d-operator-service"]["rules"] == [
        {"apiGroups": ["c2d.dev"], "resources": ["workflows"], "verbs": ["create", "get", "patch", "delete"]},
        {"apiGroups": ["c2d.dev"], "resources": ["workflows/status"], "verbs": ["patch"]},
    ]
    assert roles["c2d-contracts"]["metadata"]["namespace"] == "c2d-system"
    assert {r["resources"][0] for r in roles["c2d-contracts"]["rules"]} == {"configmaps"}
    for binding in stack.of_kind("RoleBinding"):
        (subject,) = binding["subjects"]
        assert subject["name"] == binding["roleRef"]["name"] and binding["roleRef"]["kind"] == "Role"
    assert not stack.of_kind("ClusterRole") and not stack.of_kind("ClusterRoleBinding")


def test_network_policies(stack):
    policies = {m["metadata"]["name"]: m for m in stack.of_kind("NetworkPolicy")}
    for name, namespace in (("c2d-system-default-deny", "c2d-system"), ("c2d-jobs-default-deny", "c2d-jobs")):
        assert policies[name]["metadata"]["namespace"] == namespace
        assert policies[name]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    operator = policies["c2d-operator-service"]["spec"]
    assert operator["policyTypes"] == ["Ingress", "Egress"]  # egress: DNS and the API server (WorkFlows)
    assert {p["port"] for p in operator["egress"][1]["ports"]} == {443, 6443}
    (rule,) = operator["ingress"]
    (source,) = rule["from"]
    assert source["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "provider"}}
    assert source["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "c2d-system"}}
    configure = policies["c2d-configure"]["spec"]
    assert configure["podSelector"] == {"matchLabels": {"component": "configure"}}
    assert [p["port"] for p in configure["egress"][1]["ports"]] == [8030]
    algorithm = policies["c2d-algorithm-network"]["spec"]
    assert algorithm["podSelector"]["matchLabels"] == {"component": "algorithm", "c2d.dev/network": "allowed"}
    # a network-allowed algorithm reaches the public internet only: no cloud metadata address
    # (any of them, IPv4 or IPv6), nothing private, nothing of the cluster or the host
    public = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"]
    never = ["169.254.169.254", "169.254.0.1", "100.100.100.200", "fd00:ec2::254", "fe80::1", "10.0.0.1"]
    never += ["172.16.5.4", "192.168.1.1", "100.64.0.1", "127.0.0.1", "::1", "fd12::1"]
    assert [a for a in public if not _egress_allows(algorithm, a)] == []
    assert [a for a in never if _egress_allows(algorithm, a)] == []
    provider = policies["c2d-provider"]["spec"]
    assert [a for a in ["169.254.169.254", "100.100.100.200", "fd00:ec2::254"] if _egress_allows(provider, a)] == []
    engine = policies["c2d-operator-engine"]["spec"]
    assert engine["policyTypes"] == ["Ingress", "Egress"] and engine["ingress"] == []  # no one calls it
    assert {p["port"] for p in engine["egress"][1]["ports"]} == {443, 6443}
    assert not any("ingress" in p["spec"] for p in policies.values() if p["metadata"]["name"] == "c2d-configure")


def test_every_part_is_scraped_by_its_annotations_and_only_the_metrics_namespace_may():
    scraped = run({**KEYS, "c2d:metricsNamespace": "monitoring"})
    deployments = {m["metadata"]["name"]: m for m in scraped.of_kind("Deployment")}
    ports = {"c2d-provider": "8030", "c2d-operator-service": "8050", "c2d-operator-engine": "8052"}
    for name, port in ports.items():
        annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": port,
            "prometheus.io/path": "/metrics",
        }
    (engine,) = deployments["c2d-operator-engine"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in engine["env"]}
    assert env["C2D_ENGINE_METRICS_PORT"] == "8052" and engine["ports"] == [{"name": "metrics", "containerPort": 8052}]
    policies = {m["metadata"]["name"]: m["spec"] for m in scraped.of_kind("NetworkPolicy")}
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for name, port in (("c2d-operator-service", 8050), ("c2d-operator-engine", 8052)):
        assert {"from": [monitoring], "ports": [{"protocol": "TCP", "port": port}]} in policies[name]["ingress"]
    # the loopback cluster's engines share the node's network: no metrics port there
    dev = run(VARIANTS["dev"])
    (engine,) = next(m for m in dev.of_kind("Deployment") if m["metadata"]["name"] == "c2d-operator-engine")["spec"][
        "template"
    ]["spec"]["containers"]
    assert "C2D_ENGINE_METRICS_PORT" not in {e["name"] for e in engine["env"]} and "ports" not in engine


def test_namespaces_crd_quota(stack):
    namespaces = {m["metadata"]["name"]: m["metadata"]["labels"] for m in stack.of_kind("Namespace")}
    # what the NetworkPolicies select namespaces by, set by the API server only from 1.21 on
    assert all(labels["kubernetes.io/metadata.name"] == name for name, labels in namespaces.items())
    assert namespaces["c2d-jobs"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["c2d-system"]["pod-security.kubernetes.io/enforce"] == "baseline"
    (crd,) = stack.of_kind("CustomResourceDefinition")
    assert (crd["metadata"]["name"], crd["spec"]["group"], crd["spec"]["scope"]) == (
        "workflows.c2d.dev",
        "c2d.dev",
        "Namespaced",
    )
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    spec, status = schema["spec"], schema["status"]["properties"]
    assert spec["required"] == ["jobId", "owner", "environment"]
    assert set(spec["properties"]) == {"jobId", "owner", "environment", "datasets", "algorithm", "stopRequested"}
    assert spec["properties"]["jobId"] == {
        "type": "string",
        "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        "maxLength": 48,
    }
    assert spec["properties"]["datasets"]["items"]["pattern"] == "^did:op:[0-9a-fA-F]{40}$"
    assert spec["properties"]["stopRequested"] == {"type": "boolean"}
    # Ocean's status numbers, and nothing a structural schema may not hold (titles, defaults, refs)
    assert status["statusCode"] == {
        "type": "integer",
        "enum": [1, 10, 20, 30, 31, 32, 40, 41, 42, 43, 50, 51, 52, 60, 61, 70, 80],
    }
    assert status["reason"]["nullable"] is True and status["updated"]["format"] == "date-time"
    assert not {"title", "default", "$ref", "$defs", "anyOf"} & set(
        json.dumps(version["schema"]).replace('"', " ").split()
    )
    (quota,) = stack.of_kind("ResourceQuota")
    assert quota["metadata"]["namespace"] == "c2d-jobs" and quota["spec"]["hard"]["pods"] == "8"
    (limits,) = stack.of_kind("LimitRange")
    assert limits["spec"]["limits"][0]["max"] == {"cpu": "1000m", "memory": "512Mi"}


def test_the_operator_runs_jobs_on_kubernetes_with_the_shared_volume(stack):
    engine = named(stack, "Deployment", "c2d-operator-engine")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in engine["containers"][0]["env"]}
    assert env["C2D_EXECUTOR"] == "kubernetes" and env["C2D_KUBE_NAMESPACE"] == "c2d-jobs"
    assert env["C2D_KUBE_JOBS_CLAIM"] == "c2d-jobs" and env["C2D_KUBE_JOBS_SUBPATH"] == "jobs"
    assert env["C2D_KUBE_OPERATOR_KEY_SECRET"] == "c2d-operator-key"  # the Secret's own name, passed on
    # Neither operator pod holds the operator key: configure pods read it from its Secret.
    service = named(stack, "Deployment", "c2d-operator-service")["spec"]["template"]["spec"]["containers"][0]
    for container in (engine["containers"][0], service):
        assert not {e["name"] for e in container["env"]} & {"C2D_OPERATOR_KEY", "C2D_OPERATOR_KEY_FILE"}
    assert named(stack, "Secret", "c2d-operator-key")["metadata"]["namespace"] == "c2d-jobs"
    assert env["C2D_OPERATOR_PROVIDERS"].startswith("0x") and len(env["C2D_OPERATOR_PROVIDERS"]) == 42
    assert {"name": "jobs", "persistentVolumeClaim": {"claimName": "c2d-jobs"}} in engine["volumes"]
    provider = named(stack, "Deployment", "c2d-provider")["spec"]["template"]["spec"]["containers"][0]
    penv = {e["name"]: e.get("value") for e in provider["env"]}
    assert penv["C2D_OPERATOR_URL"] == "http://c2d-operator-service.c2d-jobs.svc:8050"
    assert penv["C2D_RPC_URL"] == "http://c2d-ganache.c2d-system.svc:8545"
    for manifest in stack.manifests():  # no key in any manifest but the two Secrets
        if manifest["kind"] != "Secret":
            assert "09" * 32 not in str(manifest) and "08" * 32 not in str(manifest), manifest["metadata"]["name"]


def test_loopback_is_one_setting():
    loopback = run({**KEYS, "c2d:loopback": "true"})
    for name, pod in pods(loopback):
        assert pod["hostNetwork"] is True, name
        assert all(c["imagePullPolicy"] == "Never" for c in pod["containers"]), name
    assert len(loopback.of_kind("PersistentVolume")) == 3  # provider, jobs, chain
    provider = named(loopback, "Deployment", "c2d-provider")["spec"]["template"]["spec"]["containers"][0]
    assert provider["args"] == ["--host", "127.0.0.1", "--port", "8030"]
    # hostPath volumes ignore fsGroup: a first container hands the pod's directories to its user,
    # as root with CHOWN as its only capability; nothing like it without loopback.
    owners = {name: pod["initContainers"] for name, pod in pods(loopback) if "initContainers" in pod}
    assert set(owners) == {"c2d-ganache", "c2d-provider", "c2d-operator-service", "c2d-operator-engine"}
    for name, (owner,) in owners.items():
        assert owner["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}, name
        assert owner["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert owner["command"][2].endswith('chown 10001:10001 "$@"'), name
    assert owners["c2d-provider"][0]["command"][4:] == ["/volumes/provider/state", "/volumes/provider/data"]
    assert not any("initContainers" in pod for _, pod in pods(run(dict(KEYS))))


def test_an_external_chain_needs_its_url_id_and_addresses():
    with pytest.raises(ConfigError) as raised:
        run({**KEYS, "c2d:chain": "external"})
    message = str(raised.value)
    assert "c2d:rpcUrl" in message and "c2d:chainId" in message and "c2d:addresses" in message
    external = run(
        {
            **KEYS,
            "c2d:chain": "external",
            "c2d:rpcUrl": "https://rpc.example",
            "c2d:chainId": "100",
            "c2d:addresses": '{"100": {"contracts": {}}}',
        }
    )
    assert not external.of_kind("Job") and not any(m["metadata"]["name"] == "c2d-ganache" for m in external.manifests())
    (config_map,) = [m for m in external.of_kind("ConfigMap") if m["metadata"]["name"] == "c2d-contracts"]
    assert config_map["data"]["addresses.json"] == '{"100": {"contracts": {}}}'
    claims = {m["metadata"]["name"] for m in external.of_kind("PersistentVolumeClaim")}
    jobs_claim = next(m for m in external.of_kind("PersistentVolumeClaim") if m["metadata"]["name"] == "c2d-jobs")
    assert jobs_claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claims == {"c2d-provider", "c2d-jobs"}  # no chain volume without the in-cluster chain


def test_jobs_volume_across_nodes():
    shared = run({**KEYS, "c2d:jobsAccessMode": "ReadWriteMany", "c2d:storageClass": "nfs"})
    claim = next(m for m in shared.of_kind("PersistentVolumeClaim") if m["metadata"]["name"] == "c2d-jobs")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["storageClassName"] == "nfs"


def test_outputs_volumes_from_a_storage_class():
    """The engine claims each job's outputs volume from the class (a hard size); the default
    stack names none (outputs on the jobs volume)."""

    def engine_env(stack):
        engine = named(stack, "Deployment", "c2d-operator-engine")["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value") for e in engine["env"]}

    def engine_rules(stack):
        return named(stack, "Role", "c2d-operator-engine")["rules"]

    claimed = run({**KEYS, "c2d:outputsStorageClass": "gp3"})
    assert engine_env(claimed)["C2D_KUBE_OUTPUTS_CLASS"] == "gp3"
    claims = {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["create", "get", "delete"]}
    assert engine_rules(claimed)[-1] == claims
    plain = run(dict(KEYS))
    assert engine_env(plain)["C2D_KUBE_OUTPUTS_CLASS"] == "" and claims not in engine_rules(plain)


def test_the_chain_keeps_its_state_on_a_volume(stack):
    (claim,) = [m for m in stack.of_kind("PersistentVolumeClaim") if m["metadata"]["name"] == "c2d-chain"]
    assert claim["metadata"]["namespace"] == "c2d-system" and claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    pod = named(stack, "Deployment", "c2d-ganache")["spec"]["template"]["spec"]
    assert {"name": "chain", "persistentVolumeClaim": {"claimName": "c2d-chain"}} in pod["volumes"]
    (container,) = pod["containers"]
    assert {"name": "chain", "mountPath": "/chain", "subPath": "db"} in container["volumeMounts"]
    assert container["args"][container["args"].index("--database.dbPath") + 1] == "/chain"


def test_missing_keys_are_named_with_the_command_to_set_them():
    with pytest.raises(ConfigError) as raised:
        run({})
    assert "c2d:providerKey: required (pulumi config set --secret c2d:providerKey 0x...)" in str(raised.value)
    assert "c2d:operatorKey" in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("c2d:jobsNamespace", "Bad_NS", "not a namespace name"),
        ("c2d:resultsSize", "lots", "not a storage quantity"),
        ("c2d:chain", "mainnet", "neither 'ganache' nor 'external'"),
        ("c2d:jobsAccessMode", "ReadOnlyMany", "neither ReadWriteOnce nor ReadWriteMany"),
        ("c2d:chainSize", "big", "not a storage quantity"),
        ("c2d:environments", "[{}]", "not a list of environments"),
        ("c2d:outputsStorageClass", "Fast SSD", "not a storage class name"),
        ("c2d:storageClass", "-nfs", "not a storage class name"),
    ],
)
def test_bad_values_are_refused(key, value, says):
    with pytest.raises(ConfigError) as raised:
        run({**KEYS, key: value})
    assert key in str(raised.value) and says in str(raised.value)


def test_prebuilt_images_need_their_digests_and_every_pod_names_its_image_by_digest():
    with pytest.raises(ConfigError) as raised:
        run(dict(ONLY_KEYS))
    assert "c2d:imageDigests: no digest for provider, operator-service, operator-engine" in str(raised.value)
    partial = {**ONLY_KEYS, "c2d:imageDigests": json.dumps({"provider": DIGESTS["provider"]})}
    with pytest.raises(ConfigError, match="no digest for operator-service"):
        run(partial)
    with pytest.raises(ConfigError, match="not a JSON object of component"):
        run({**ONLY_KEYS, "c2d:imageDigests": '{"provider": "latest"}'})
    for variant in ("existing", "external-chain", "build"):
        stack = run(VARIANTS[variant])
        for name, pod in pods(stack):
            for container in pod["containers"] + pod.get("initContainers", []):
                assert "@sha256:" in container["image"], (variant, name, container["image"])
        engine = named(stack, "Deployment", "c2d-operator-engine")["spec"]["template"]["spec"]["containers"][0]
        stage_images = json.loads(next(e["value"] for e in engine["env"] if e["name"] == "C2D_IMAGES"))
        assert set(stage_images) == {"configure", "publish"}
        assert all("@sha256:" in ref for ref in stage_images.values()), stage_images
    prebuilt = run(VARIANTS["existing"])
    provider = named(prebuilt, "Deployment", "c2d-provider")["spec"]["template"]["spec"]["containers"][0]
    assert provider["image"] == f"registry.example/c2d/provider:dev@{DIGESTS['provider']}"


def test_the_stack_builds_and_pushes_each_image_it_runs():
    stack = run(VARIANTS["build"])
    images = {name: inputs for typ, name, inputs in stack.others if typ == "docker-build:index:Image"}
    assert set(images) == set(DIGESTS)  # the services', the stages' and the in-cluster chain's
    for name, inputs in images.items():
        assert inputs["push"] is True and inputs["tags"] == [f"registry.example/c2d/{name}:dev"]
        assert inputs["dockerfile"]["location"].endswith(f"images/{name}.Dockerfile")
        assert inputs["buildArgs"] == {"BASE": "python:3.11-slim-bookworm"}
    (stage,) = [inputs for typ, _, inputs in stack.others if typ == "command:local:Command"]
    assert stage["create"] == "make -s contracts && scripts/images.sh stage"
    external = run(
        {
            **VARIANTS["build"],
            **{
                k: v
                for k, v in VARIANTS["external-chain"].items()
                if "chain" in k.lower() or k in ("c2d:rpcUrl", "c2d:addresses")
            },
        }
    )
    built = {name for typ, name, _ in external.others if typ == "docker-build:index:Image"}
    assert built == set(DIGESTS) - {"ganache", "contracts"}


def test_secrets_reach_containers_as_files_only():
    for variant, config in VARIANTS.items():
        stack = run(config)
        for name, pod in pods(stack):
            for container in pod["containers"] + pod.get("initContainers", []):
                for env in container.get("env", []):
                    assert "secretKeyRef" not in env.get("valueFrom", {}), (variant, name, env)
                assert "envFrom" not in container, (variant, name)
    pod = named(run(VARIANTS["existing"]), "Deployment", "c2d-provider")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["C2D_PROVIDER_KEY_FILE"] == "/etc/c2d/keys/provider-key" and "C2D_PROVIDER_KEY" not in env
    key = next(v for v in pod["volumes"] if v["name"] == "key")
    assert key["secret"]["items"] == [{"key": "provider-key", "path": "provider-key"}]
    assert key["secret"]["defaultMode"] == 0o440  # root's, the pod's group (its fsGroup) reads it
    assert {"name": "key", "mountPath": "/etc/c2d/keys", "readOnly": True} in container["volumeMounts"]


def test_postgres_in_the_cluster_gives_each_store_its_role_and_the_parts_their_replicas():
    stack = run(VARIANTS["postgres"])
    (statefulset,) = stack.of_kind("StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].startswith("postgres:16-bookworm@sha256:")
    assert container["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["fsGroup"] == 10001
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["POSTGRES_PASSWORD_FILE"] == "/etc/c2d/keys/admin-password" and "POSTGRES_PASSWORD" not in env
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "c2d-postgres"
    secrets = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in stack.of_kind("Secret")}
    provider_url = secrets[("c2d-system", "c2d-provider-database")]["stringData"]["url"]
    operator_url = secrets[("c2d-jobs", "c2d-operator-database")]["stringData"]["url"]
    assert provider_url.startswith("postgresql+psycopg://c2d_provider:")
    assert provider_url.endswith("@c2d-postgres.c2d-system.svc:5432/c2d_provider")
    assert operator_url.startswith("postgresql+psycopg://c2d_operator:") and operator_url.endswith("/c2d_operator")
    assert "a database password" not in provider_url + operator_url  # derived, not the administrator's
    assert provider_url.split(":")[2] != operator_url.split(":")[2]
    for name, replicas in (("c2d-provider", 2), ("c2d-operator-engine", 2), ("c2d-operator-service", 2)):
        deployment = named(stack, "Deployment", name)
        assert deployment["spec"]["replicas"] == replicas and deployment["spec"]["strategy"] == {
            "type": "RollingUpdate"
        }
        (part,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in part["env"]}
        store = "PROVIDER" if name == "c2d-provider" else "OPERATOR"
        assert env[f"C2D_{store}_DATABASE_URL_FILE"] == "/etc/c2d/database/url", name
        assert f"C2D_{store}_DATABASE_URL" not in env, name
    policies = {m["metadata"]["name"]: m["spec"] for m in stack.of_kind("NetworkPolicy")}
    clients = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for peer in policies["c2d-postgres"]["ingress"][0]["from"]
    ]
    assert clients == ["provider", "operator-service", "operator-engine"] and policies["c2d-postgres"]["egress"] == []
    for part in ("c2d-operator-engine", "c2d-operator-service"):
        assert any(rule.get("ports") == [{"protocol": "TCP", "port": 5432}] for rule in policies[part]["egress"]), part
    assert run({**VARIANTS["postgres"], "c2d:engineReplicas": "3"}).of_kind("Deployment")


def test_an_external_database_and_sqlites_single_replicas():
    stack = run(VARIANTS["external-database"])
    assert not stack.of_kind("StatefulSet")
    secrets = {m["metadata"]["name"]: m for m in stack.of_kind("Secret")}
    assert secrets["c2d-operator-database"]["stringData"]["url"].endswith("@10.0.5.10:5432/operator")
    engine_egress = next(m for m in stack.of_kind("NetworkPolicy") if m["metadata"]["name"] == "c2d-operator-engine")
    assert {
        "to": [{"ipBlock": {"cidr": "10.0.5.10/32"}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    } in engine_egress["spec"]["egress"]
    sqlite = run(VARIANTS["existing"])
    for name in ("c2d-provider", "c2d-operator-engine", "c2d-operator-service"):
        assert named(sqlite, "Deployment", name)["spec"]["replicas"] == 1, name
    assert not any(m["metadata"]["name"].endswith("-database") for m in sqlite.of_kind("Secret"))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"c2d:database": "postgres"}, "c2d:postgresImage: required"),
        ({"c2d:database": "postgres", "c2d:postgresImage": "postgres:16"}, "by digest"),
        ({"c2d:database": "postgres"}, "c2d:databasePassword: required"),
        ({"c2d:database": "external"}, "c2d:operatorDatabaseUrl: required"),
        ({"c2d:database": "external"}, "c2d:databaseCidr: required"),
        ({"c2d:database": "mysql"}, "neither 'sqlite', 'postgres' nor 'external'"),
        ({**VARIANTS["postgres"], "c2d:engineReplicas": "40"}, "c2d:engineReplicas: between 1 and 16"),
        ({"c2d:images": "docker"}, "neither 'prebuilt' nor 'build'"),
        ({"c2d:images": "build", "c2d:registryUsername": "me"}, "give both, or neither"),
    ],
)
def test_bad_database_and_image_settings_are_refused(changes, says):
    with pytest.raises(ConfigError, match=says):
        run({**KEYS, **changes})


def test_the_provider_gets_a_public_tls_endpoint_and_its_public_url():
    stack = run(VARIANTS["postgres"])  # ingress, with an ACME Issuer of the stack's own
    (ingress,) = stack.of_kind("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["c2d.example.org"], "secretName": "c2d-provider-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "c2d.example.org"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "c2d-provider", "port": {"number": 8030}}}
    routed = {(p["path"], p["pathType"]) for p in rule["http"]["paths"]}
    assert ("/api", "Prefix") in routed and ("/ui", "Prefix") in routed and ("/", "Exact") in routed
    assert not any(path in ("/metrics",) or (kind == "Prefix" and path == "/") for path, kind in routed)
    (issuer,) = stack.of_kind("Issuer")
    assert issuer["spec"]["acme"]["email"] == "ops@example.org"
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    (certificate,) = stack.of_kind("Certificate")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["spec"]["secretName"] == "c2d-provider-tls"
    assert certificate["spec"]["dnsNames"] == ["c2d.example.org"]
    assert certificate["spec"]["issuerRef"] == {"name": "c2d-acme", "kind": "Issuer", "group": "cert-manager.io"}

    def env(stack, name):
        container = named(stack, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value") for e in container["env"]}

    assert env(stack, "c2d-provider")["C2D_PROVIDER_URL"] == "https://c2d.example.org"  # what it tells consumers
    assert env(stack, "c2d-operator-engine")["C2D_PROVIDER_URL"] == "http://c2d-provider.c2d-system.svc:8030"
    own = run(
        {
            **KEYS,
            "c2d:endpoint": "ingress",
            "c2d:hostname": "c2d.example.org",
            "c2d:tlsSecret": "mine",
            "c2d:ingressClass": "traefik",
        }
    )
    assert not own.of_kind("Certificate") and not own.of_kind("Issuer")
    assert own.of_kind("Ingress")[0]["spec"]["tls"][0]["secretName"] == "mine"
    issued = run({**KEYS, "c2d:endpoint": "ingress", "c2d:hostname": "c2d.example.org", "c2d:tlsIssuer": "letsencrypt"})
    assert issued.of_kind("Certificate")[0]["spec"]["issuerRef"]["kind"] == "ClusterIssuer" and not issued.of_kind(
        "Issuer"
    )
    balanced = run(VARIANTS["external-database"])
    (public,) = [m for m in balanced.of_kind("Service") if m["metadata"]["name"] == "c2d-provider-public"]
    assert public["spec"]["type"] == "LoadBalancer"
    assert public["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": 8030}]
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" in public["metadata"]["annotations"]
    assert not balanced.of_kind("Ingress")
    assert env(run(dict(KEYS)), "c2d-provider")["C2D_PROVIDER_URL"] == "http://c2d-provider.c2d-system.svc:8030"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"c2d:endpoint": "ingress"}, "c2d:hostname: required"),
        ({"c2d:endpoint": "ingress", "c2d:hostname": "c2d.example.org"}, "exactly one with an ingress"),
        (
            {"c2d:endpoint": "ingress", "c2d:hostname": "a.b", "c2d:tlsSecret": "s", "c2d:acmeEmail": "x@y"},
            "exactly one",
        ),
        ({"c2d:endpoint": "ingress", "c2d:hostname": "a.b", "c2d:acmeEmail": "nobody"}, "an e-mail address"),
        ({"c2d:endpoint": "nodeport"}, "neither 'none', 'ingress' nor 'loadbalancer'"),
        ({"c2d:endpoint": "loadbalancer", "c2d:hostname": "a.b", "c2d:loadBalancerAnnotations": "[1]"}, "JSON object"),
    ],
)
def test_bad_endpoint_settings_are_refused(changes, says):
    with pytest.raises(ConfigError, match=says):
        run({**KEYS, **changes})


def _kubernetes_provider(stack):
    (provider,) = [(name, inputs) for typ, name, inputs in stack.others if typ == "pulumi:providers:kubernetes"]
    return provider


def _uses_only(stack, provider_name):
    """Every Kubernetes resource of the stack is created with that cluster's provider."""
    refs = set(stack.provider_of.values())
    assert len(refs) == 1 and f"pulumi:providers:kubernetes::{provider_name}::" in refs.pop()
    assert len(stack.provider_of) == len(stack.resources) > 25


def test_an_eks_cluster_with_network_policies_a_gpu_pool_and_its_storage_class():
    stack = run(VARIANTS["eks"])
    name, provider = _kubernetes_provider(stack)
    _uses_only(stack, name)
    assert json.loads(provider["kubeconfig"])["clusters"] == [{"name": "eks-c2d"}]  # the new cluster's
    others = {(typ, n): inputs for typ, n, inputs in stack.others}
    cluster = others[("eks:index:Cluster", "c2d")]
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True and cluster["skipDefaultNodeGroup"] is True
    gpu = others[("eks:index:ManagedNodeGroup", "c2d-gpu-nodes")]
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA" and gpu["scalingConfig"]["maxSize"] == 1
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert others[("aws:eks/addon:Addon", "ebs-csi")]["addonName"] == "aws-ebs-csi-driver"
    (storage_class,) = stack.of_kind("StorageClass")
    assert storage_class["provisioner"] == "ebs.csi.aws.com" and storage_class["parameters"]["encrypted"] == "true"
    assert {m["spec"].get("storageClassName") for m in stack.of_kind("PersistentVolumeClaim")} == {"c2d-gp3"}
    (statefulset,) = stack.of_kind("StatefulSet")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "c2d-gp3"
    engine = named(stack, "Deployment", "c2d-operator-engine")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in engine["env"]}["C2D_KUBE_OUTPUTS_CLASS"] == "c2d-gp3"
    policy = next(m for m in stack.of_kind("NetworkPolicy") if m["metadata"]["name"] == "c2d-operator-engine")
    assert {"ipBlock": {"cidr": "172.31.0.0/16"}} in [
        to for rule in policy["spec"]["egress"] for to in rule.get("to", [])
    ]
    without_gpus = run({**VARIANTS["eks"], "c2d:gpuNodes": "0"})
    assert [n for t, n, _ in without_gpus.others if t == "eks:index:ManagedNodeGroup"] == ["c2d-nodes"]


def test_a_gke_cluster_with_dataplane_v2_workload_identity_and_a_gpu_pool():
    stack = run(VARIANTS["gke"])
    name, provider = _kubernetes_provider(stack)
    _uses_only(stack, name)
    kubeconfig = json.loads(provider["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://192.0.2.10"
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    others = {(typ, n): inputs for typ, n, inputs in stack.others}
    cluster = others[("gcp:container/cluster:Cluster", "c2d")]
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH" and cluster["removeDefaultNodePool"] is True
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "c2d-example.svc.id.goog"}
    for pool in ("c2d-nodes", "c2d-gpu-nodes"):  # no node credentials through the metadata server
        assert others[("gcp:container/nodePool:NodePool", pool)]["nodeConfig"]["workloadMetadataConfig"] == {
            "mode": "GKE_METADATA"
        }
    gpu = others[("gcp:container/nodePool:NodePool", "c2d-gpu-nodes")]
    assert gpu["nodeConfig"]["guestAccelerators"][0]["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert gpu["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 2}
    assert {m["spec"].get("storageClassName") for m in stack.of_kind("PersistentVolumeClaim")} == {"standard-rwo"}
    assert not stack.of_kind("StorageClass")  # GKE's own
    policy = next(m for m in stack.of_kind("NetworkPolicy") if m["metadata"]["name"] == "c2d-operator-service")
    assert {"ipBlock": {"cidr": "192.0.2.10/32"}} in [
        to for rule in policy["spec"]["egress"] for to in rule.get("to", [])
    ]


def test_the_local_cluster_is_brought_up_and_down_by_the_program_and_runs_the_loopback_stack():
    stack = run(VARIANTS["local"])
    name, provider = _kubernetes_provider(stack)
    _uses_only(stack, name)
    commands = {n: inputs for typ, n, inputs in stack.others if typ == "command:local:Command"}
    assert commands["loopback-cluster"]["create"] == "scripts/cluster/up.sh >&2 && cat /var/lib/c2d-cluster/kubeconfig"
    assert commands["loopback-cluster"]["delete"] == "scripts/cluster/down.sh >&2"
    assert commands["loopback-images"]["create"] == "make -s contracts && scripts/images.sh >&2"
    assert provider["kubeconfig"] == "kind: Config  # the output of loopback-cluster"
    for pod_name, pod in pods(stack):  # the loopback stack: the node's network, images never pulled
        assert pod["hostNetwork"] is True, pod_name
    assert [m["metadata"]["name"] for m in stack.of_kind("PersistentVolume")]  # hostPath volumes


def test_an_existing_cluster_by_its_kubeconfig_or_the_ambient_provider():
    named_cluster = run({**KEYS, "c2d:kubeconfig": "kind: Config  # mine"})
    name, provider = _kubernetes_provider(named_cluster)
    assert provider["kubeconfig"]["value"] == "kind: Config  # mine"  # and secret:
    assert provider["kubeconfig"]["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    _uses_only(named_cluster, name)
    ambient = run(dict(KEYS))
    assert not [t for t, _, _ in ambient.others if t == "pulumi:providers:kubernetes"]
    assert set(ambient.provider_of.values()) == {""}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"c2d:cluster": "aks"}, "neither 'existing', 'eks', 'gke' nor 'local'"),
        ({"c2d:cluster": "gke"}, "c2d:project: required with c2d:cluster gke"),
        ({"c2d:cluster": "eks", "c2d:minNodes": "4", "c2d:maxNodes": "2"}, "at least c2d:minNodes"),
        ({"c2d:cluster": "eks", "c2d:gpuNodes": "-1"}, "c2d:gpuNodes: between 0 and 100"),
        ({"c2d:cluster": "eks", "c2d:subnetIds": "subnet-1"}, "a JSON list of subnet ids"),
    ],
)
def test_bad_cluster_settings_are_refused(changes, says):
    with pytest.raises(ConfigError, match=says):
        run({**KEYS, **changes})


GVISOR_ENVS = json.dumps([{"id": "default"}, {"id": "sandboxed", "runtime": "gvisor"}])


def _engine_env(stack):
    engine = named(stack, "Deployment", "c2d-operator-engine")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in engine["env"]}


def test_gvisor_environments_get_the_runtime_class_their_algorithm_pods_name():
    assert not run(dict(KEYS)).of_kind("RuntimeClass")  # no gvisor environment: nothing declared
    stack = run({**KEYS, "c2d:environments": GVISOR_ENVS})
    (declared,) = stack.of_kind("RuntimeClass")
    assert declared["apiVersion"] == "node.k8s.io/v1"
    assert (declared["metadata"]["name"], declared["handler"]) == ("gvisor", "runsc")
    assert _engine_env(stack)["C2D_KUBE_GVISOR_CLASS"] == "gvisor"
    own = run(
        {**KEYS, "c2d:environments": GVISOR_ENVS, "c2d:gvisorRuntimeClass": "sandbox", "c2d:gvisorHandler": "gvisor"}
    )
    (declared,) = own.of_kind("RuntimeClass")
    assert (declared["metadata"]["name"], declared["handler"]) == ("sandbox", "gvisor")
    assert _engine_env(own)["C2D_KUBE_GVISOR_CLASS"] == "sandbox"
    the_clusters = run(
        {**KEYS, "c2d:environments": GVISOR_ENVS, "c2d:gvisorRuntimeClass": "theirs", "c2d:gvisorHandler": "none"}
    )
    assert not the_clusters.of_kind("RuntimeClass") and _engine_env(the_clusters)["C2D_KUBE_GVISOR_CLASS"] == "theirs"


def test_gvisor_environments_on_a_managed_cluster_need_the_class_of_nodes_of_their_own():
    for cluster in ("eks", "gke"):
        stack = run(
            {
                **VARIANTS[cluster],
                "c2d:environments": GVISOR_ENVS,
                "c2d:gvisorRuntimeClass": "gvisor",
                "c2d:gvisorHandler": "none",
            }
        )
        assert not stack.of_kind("RuntimeClass") and _engine_env(stack)["C2D_KUBE_GVISOR_CLASS"] == "gvisor"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"c2d:cluster": "eks"}, "c2d:environments: sandboxed run under gVisor, which the stack does not bring to eks"),
        (
            {"c2d:cluster": "gke", "c2d:project": "p", "c2d:location": "l"},
            "which the stack does not bring to gke's nodes: with nodes of your own",
        ),
        ({"c2d:cluster": "local"}, "the loopback test cluster's kubelet (dockershim) cannot choose"),
        ({"c2d:loopback": "true"}, "the loopback test cluster's kubelet (dockershim) cannot choose"),
        ({"c2d:gvisorRuntimeClass": "No_Class"}, "c2d:gvisorRuntimeClass: 'No_Class' is not a RuntimeClass name"),
        ({"c2d:gvisorHandler": "run.sc"}, "c2d:gvisorHandler: 'run.sc' is not a runtime handler"),
    ],
)
def test_gvisor_environments_where_no_node_runs_gvisor_are_refused(changes, says):
    with pytest.raises(ConfigError) as raised:
        run({**KEYS, "c2d:environments": GVISOR_ENVS, **changes})
    assert says in str(raised.value)


def test_malformed_gvisor_settings_are_refused_without_a_gvisor_environment_too():
    with pytest.raises(ConfigError, match="c2d:gvisorHandler: 'Run SC' is not a runtime handler"):
        run({**KEYS, "c2d:gvisorHandler": "Run SC"})


def test_the_program_renders_under_uvicorns_event_loop_policy():
    """uvicorn (the services, in-process in other tests) sets uvloop's policy process-wide;
    Pulumi's mocks pump asyncio's standard loop by hand, which a run gets of its own."""
    import asyncio

    import uvloop

    before = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        assert run(VARIANTS["existing"]).of_kind("Deployment")
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)  # given back
    finally:
        asyncio.set_event_loop_policy(before)

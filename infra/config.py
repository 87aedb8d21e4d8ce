"""The stack's configuration (`pulumi config set c2d:<key> ...`), read and checked in one place.

Every problem is reported at once, as `c2d:<key>: what is wrong (how to fix it)`, before any
resource is declared. Keys (README, "Deploy on Kubernetes"):

    providerKey         secret, required   the provider's private key (0x + 64 hex)
    operatorKey         secret, required   the operator's key; configure pods sign with it
    imageRegistry       "c2d/"             prefix of c2d's images (registry/path/)
    imageTag            "dev"              tag of c2d's images
    images              "prebuilt"         "prebuilt": images pushed beforehand, named by
                                           imageDigests; "build": the stack builds each from
                                           images/*.Dockerfile and pushes it to imageRegistry
    imageDigests        required when prebuilt (not loopback)   JSON {component: "sha256:…"}
                                           of every image the stack runs (docker push prints
                                           them); every pod names its image by digest
    imageBase           "python:3.11-slim-bookworm"   the images' base when built
    registryUsername, registryPassword (secret)   the registry's login for the build's push
                                           (else the machine's docker login)
    database            "sqlite"           the provider's and the operator's stores: "sqlite" (a
                                           file on their volumes: one replica each), "postgres"
                                           (a StatefulSet in the system namespace) or "external"
    postgresImage       required with postgres   the official postgres image by digest
                                           (postgres:16-bookworm@sha256:…)
    databasePassword    secret, required with postgres   its administrator's; the provider's
                                           and the operator's own roles get passwords derived
                                           from it
    databaseSize        "10Gi"             its volume
    providerDatabaseUrl, operatorDatabaseUrl   secrets, required with external
                                           (postgresql+psycopg://user:password@host:port/db)
    databaseCidr        required with external   where the operator's pods may reach it (5432)
    cluster             "existing"         where the stack runs (c2d.infra.components.clusters):
                                           "existing" (kubeconfig, secret, or the ambient
                                           provider), "eks" (aws:region), "gke" (project,
                                           location), "local" (the loopback test cluster)
    nodeType, minNodes 1, maxNodes 3, gpuNodes 0, gpuNodeType, gpuType, kubernetesVersion,
    vpcId, subnetIds (JSON), vpcCidr "172.31.0.0/16" (eks: the default VPC's)   the cluster's
    endpoint            "none"             the provider's public endpoint: "ingress" (TLS: tlsSecret,
                                           or a cert-manager Certificate from tlsIssuer or from an
                                           ACME Issuer the stack makes for acmeEmail), or
                                           "loadbalancer" (TLS by the cloud: loadBalancerAnnotations)
    hostname            required with an endpoint   its DNS name: providerUrl is https://<it>
    ingressClass "nginx", tlsSecret, tlsIssuer, tlsIssuerKind "ClusterIssuer", acmeEmail,
    acmeServer (Let's Encrypt's), loadBalancerAnnotations (JSON)
    providerReplicas, engineReplicas   2   with PostgreSQL (one each with sqlite); the operator
                                           service runs two as well
    systemNamespace     "c2d-system"       the provider and the chain (Ganache, contracts Job)
    jobsNamespace       "c2d-jobs"         operator service and engine, stage pods, WorkFlows
    chain               "ganache"          "ganache" (in the cluster) or "external"
    rpcUrl, chainId, addresses             required when chain is "external" (addresses: JSON
                                           of the deployment, as addresses.json records it)
    environments        one default        JSON list of compute environments (id, cpu, memoryMb,
                                           diskMb, maxJobs, maxDuration, network, runtime, ...)
    gvisorRuntimeClass  "gvisor"           with an environment of "runtime": "gvisor": the
                                           RuntimeClass its algorithm pods run with
    gvisorHandler       "runsc"            the stack declares that RuntimeClass with this
                                           handler (the nodes' containerd runtime of gVisor);
                                           "none": the cluster has the class already (needed on
                                           eks and gke, whose nodes the stack makes without
                                           gVisor); refused on the loopback test cluster
    resultsSize "10Gi", dataSize "10Gi", chainSize "5Gi", storageClass ""   the volumes (jobs
                                           and results; the publisher's data; the in-cluster
                                           chain's state), and their storage class
    outputsStorageClass ""                 a storage class for one claim of diskMb per job: the
                                           algorithm's outputs get a hard size (ENOSPC at diskMb);
                                           if empty, outputs share the jobs volume (bounded at
                                           publish by maxOutputMb only)
    jobsAccessMode      "ReadWriteOnce"    of the jobs volume: ReadWriteMany lets stage pods run
                                           on any node (needs a storage class that offers it)
    apiServerCidr       "0.0.0.0/0"        where the operator service, engine and contracts Job may
                                           reach the API server (443, 6443): its endpoints' IPs
                                           (kubectl get endpoints kubernetes), not the Service IP
    loopback            false              the single-node loopback test cluster: no pod network,
                                           so the services use the node's (loopback) network,
                                           images are never pulled, volumes are hostPath
"""

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pulumi

from c2d.operator.environments import Environment

KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# The images of the stack's own pods (the chain's only with the in-cluster chain); the engine's
# stage pods run configure and publish.
SERVICE_IMAGES = ("provider", "operator-service", "operator-engine", "configure", "publish")
CHAIN_IMAGES = ("ganache", "contracts")


class ConfigError(Exception):
    """The stack's configuration is incomplete or wrong; the message lists every problem."""


@dataclass(frozen=True)
class Placement:
    """Where and how c2d's pods run: what every part of the deployment needs to know."""

    system_namespace: str = "c2d-system"
    jobs_namespace: str = "c2d-jobs"
    image_registry: str = "c2d/"
    image_tag: str = "dev"
    loopback: bool = False
    # the namespace whose pods (a Prometheus) may scrape /metrics of every part ("": none may)
    metrics_namespace: str = ""
    # component → its reference by digest (name:tag@sha256:…; an Output when the stack builds it)
    image_refs: Mapping[str, Any] = field(default_factory=dict)

    def image(self, name: str) -> Any:
        """The component's image: by digest where known (always, but on the loopback cluster,
        whose locally built images have no registry digest)."""
        return self.image_refs.get(name) or f"{self.image_registry}{name}:{self.image_tag}"

    @property
    def pull_policy(self) -> str:
        return "Never" if self.loopback else "IfNotPresent"

    def namespace_of(self, part: str) -> str:
        """The operator's parts run beside the jobs; the provider and the chain in the system namespace."""
        return self.jobs_namespace if part.startswith("operator") else self.system_namespace


@dataclass(frozen=True)
class Volumes:
    results_size: str = "10Gi"
    data_size: str = "10Gi"
    chain_size: str = "5Gi"
    storage_class: str = ""
    outputs_storage_class: str = ""
    jobs_access_mode: str = "ReadWriteOnce"


@dataclass(frozen=True)
class ChainSettings:
    kind: str = "ganache"
    rpc_url: str = ""
    chain_id: int = 1337
    addresses: dict[str, Any] = field(default_factory=dict)

    @property
    def in_cluster(self) -> bool:
        return self.kind == "ganache"


@dataclass(frozen=True)
class ImageBuild:
    """How the stack builds its images (c2d:images build)."""

    base: str = "python:3.11-slim-bookworm"
    username: str = ""
    password: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class ClusterSettings:
    kind: str = "existing"  # existing | eks | gke | local
    kubeconfig: pulumi.Output[str] | None = None
    project: str = ""
    location: str = ""
    node_type: str = ""
    min_nodes: int = 1
    max_nodes: int = 3
    gpu_nodes: int = 0
    gpu_node_type: str = ""
    gpu_type: str = ""
    kubernetes_version: str = ""
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    vpc_cidr: str = "172.31.0.0/16"


@dataclass(frozen=True)
class GvisorSettings:
    """The RuntimeClass of gvisor environments' algorithm pods; `handler` "": the cluster's own."""

    runtime_class: str = "gvisor"
    handler: str = "runsc"


@dataclass(frozen=True)
class EndpointSettings:
    kind: str = "none"  # none | ingress | loadbalancer
    hostname: str = ""
    ingress_class: str = "nginx"
    tls_secret: str = ""
    issuer: str = ""
    issuer_kind: str = "ClusterIssuer"
    acme_email: str = ""
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    load_balancer_annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatabaseSettings:
    kind: str = "sqlite"
    image: str = ""
    size: str = "10Gi"
    password: pulumi.Output[str] | None = None  # postgres: the administrator's
    provider_url: pulumi.Output[str] | None = None  # external
    operator_url: pulumi.Output[str] | None = None
    cidr: str = ""
    provider_replicas: int = 1
    engine_replicas: int = 1

    @property
    def shared(self) -> bool:
        """PostgreSQL: several replicas may share the stores."""
        return self.kind != "sqlite"


@dataclass(frozen=True)
class StackConfig:
    provider_key: pulumi.Output[str]
    operator_key: pulumi.Output[str]
    placement: Placement = Placement()
    build: ImageBuild | None = None  # None: prebuilt images
    database: DatabaseSettings = DatabaseSettings()
    endpoint: EndpointSettings = EndpointSettings()
    cluster: ClusterSettings = ClusterSettings()
    volumes: Volumes = Volumes()
    chain: ChainSettings = ChainSettings()
    environments: list[Environment] = field(default_factory=list)
    gvisor: GvisorSettings | None = None  # None: no environment runs under gVisor
    api_server_cidr: str = "0.0.0.0/0"


def _split(values: dict[str, Any], part: type[Any]) -> Any:
    names = {f.name for f in fields(part)}
    return part(**{key: values.pop(key) for key in list(values) if key in names})


def load(config: pulumi.Config | None = None) -> StackConfig:
    config = config or pulumi.Config("c2d")
    problems: list[str] = []

    def secret_key(name: str) -> pulumi.Output[str]:
        value = config.get_secret(name)
        if value is None:
            problems.append(f"c2d:{name}: required (pulumi config set --secret c2d:{name} 0x...)")
            return pulumi.Output.secret("")
        # The value stays secret; its shape is checked when it is known.
        return value.apply(lambda key: _checked_key(name, key))

    provider_key, operator_key = secret_key("providerKey"), secret_key("operatorKey")
    values: dict[str, Any] = {}
    for name, attr in (
        ("imageRegistry", "image_registry"),
        ("imageTag", "image_tag"),
        ("systemNamespace", "system_namespace"),
        ("jobsNamespace", "jobs_namespace"),
        ("chain", "kind"),
        ("rpcUrl", "rpc_url"),
        ("resultsSize", "results_size"),
        ("dataSize", "data_size"),
        ("chainSize", "chain_size"),
        ("storageClass", "storage_class"),
        ("outputsStorageClass", "outputs_storage_class"),
        ("jobsAccessMode", "jobs_access_mode"),
        ("apiServerCidr", "api_server_cidr"),
        ("metricsNamespace", "metrics_namespace"),
    ):
        value = config.get(name)
        if value is not None:
            values[attr] = value
    for name in ("systemNamespace", "jobsNamespace", "metricsNamespace"):
        value = config.get(name)
        if value is not None and not DNS_LABEL.match(value):
            problems.append(f"c2d:{name}: {value!r} is not a namespace name (lowercase letters, digits, '-')")
    if values.get("system_namespace", "c2d-system") == values.get("jobs_namespace", "c2d-jobs"):
        problems.append("c2d:jobsNamespace: must differ from c2d:systemNamespace")
    for name, attr in (("resultsSize", "results_size"), ("dataSize", "data_size"), ("chainSize", "chain_size")):
        if attr in values and not QUANTITY.match(values[attr]):
            problems.append(f"c2d:{name}: {values[attr]!r} is not a storage quantity (for example 20Gi)")
    for name, attr in (("storageClass", "storage_class"), ("outputsStorageClass", "outputs_storage_class")):
        if values.get(attr) and not DNS_SUBDOMAIN.match(values[attr]):
            problems.append(f"c2d:{name}: {values[attr]!r} is not a storage class name (a DNS subdomain)")
    if values.get("jobs_access_mode", "ReadWriteOnce") not in ("ReadWriteOnce", "ReadWriteMany"):
        problems.append(
            f"c2d:jobsAccessMode: {values['jobs_access_mode']!r} is neither ReadWriteOnce nor ReadWriteMany"
        )
    chain = values.get("kind", "ganache")
    if chain not in ("ganache", "external"):
        problems.append(f"c2d:chain: {chain!r} is neither 'ganache' nor 'external'")
    if chain == "external":
        if not values.get("rpc_url", "").startswith(("http://", "https://")):
            problems.append("c2d:rpcUrl: required with an external chain (http:// or https:// URL)")
        chain_id = config.get_int("chainId")
        if chain_id is None or chain_id <= 0:
            problems.append("c2d:chainId: required with an external chain (a positive integer)")
        else:
            values["chain_id"] = chain_id
        raw = config.get("addresses")
        try:
            addresses = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            addresses = None
        if not isinstance(addresses, dict) or not addresses:
            problems.append("c2d:addresses: required with an external chain (the deployment's addresses.json, as JSON)")
        else:
            values["addresses"] = addresses
    raw_envs = config.get("environments")
    if raw_envs:
        try:
            environments = [Environment.model_validate(item) for item in json.loads(raw_envs)]
            if not environments or len({e.id for e in environments}) != len(environments):
                raise ValueError("at least one, with unique ids")
            values["environments"] = environments
        except (ValueError, TypeError) as exc:
            problems.append(f"c2d:environments: not a list of environments ({type(exc).__name__}: {str(exc)[:200]})")
    else:
        values["environments"] = [Environment(id="default", description="1 CPU, 512 MB, 10 minutes, no network")]
    cluster = _cluster(config, problems)
    loopback = config.get_bool("loopback")
    if loopback is not None:
        values["loopback"] = loopback
    if cluster.kind == "local":  # the loopback test cluster, made by the program
        values["loopback"] = True
        values.setdefault("api_server_cidr", "127.100.0.1/32")
    environments = values.get("environments", [])
    values["gvisor"] = _gvisor(config, environments, cluster.kind, bool(values.get("loopback")), problems)
    build = None
    mode = config.get("images") or "prebuilt"
    wanted = SERVICE_IMAGES + (CHAIN_IMAGES if values.get("kind", "ganache") == "ganache" else ())
    if mode == "build":
        build = ImageBuild(
            base=config.get("imageBase") or ImageBuild.base,
            username=config.get("registryUsername") or "",
            password=config.get_secret("registryPassword"),
        )
        if bool(build.username) != (build.password is not None):
            problems.append("c2d:registryUsername, c2d:registryPassword: give both, or neither (docker login)")
    elif mode == "prebuilt":
        digests = _digests(config.get("imageDigests"), problems)
        missing = [name for name in wanted if name not in digests]
        if missing and not values.get("loopback"):
            problems.append(
                "c2d:imageDigests: no digest for " + ", ".join(missing) + " (every pod names its image by digest: "
                "docker push prints it, or docker inspect --format '{{index .RepoDigests 0}}'; or c2d:images build)"
            )
        registry, tag = values.get("image_registry", "c2d/"), values.get("image_tag", "dev")
        values["image_refs"] = {name: f"{registry}{name}:{tag}@{digests[name]}" for name in wanted if name in digests}
    else:
        problems.append(f"c2d:images: {mode!r} is neither 'prebuilt' nor 'build'")
    database = _database(config, problems, loopback=bool(values.get("loopback")))
    endpoint = _endpoint(config, problems)
    if problems:
        raise ConfigError("the stack's configuration has problems:\n  " + "\n  ".join(problems))
    return StackConfig(
        provider_key=provider_key,
        operator_key=operator_key,
        placement=_split(values, Placement),
        build=build,
        database=database,
        endpoint=endpoint,
        cluster=cluster,
        volumes=_split(values, Volumes),
        chain=_split(values, ChainSettings),
        **values,
    )


def _cluster(config: pulumi.Config, problems: list[str]) -> ClusterSettings:
    kind = config.get("cluster") or "existing"
    if kind not in ("existing", "eks", "gke", "local"):
        problems.append(f"c2d:cluster: {kind!r} is neither 'existing', 'eks', 'gke' nor 'local'")
        return ClusterSettings()
    numbers: dict[str, Any] = {}
    for name, attr, low, default in (
        ("minNodes", "min_nodes", 1, 1),
        ("maxNodes", "max_nodes", 1, 3),
        ("gpuNodes", "gpu_nodes", 0, 0),
    ):
        try:
            value = config.get_int(name)
        except (ValueError, TypeError):
            value = -1
        if value is not None and not low <= value <= 100:
            problems.append(f"c2d:{name}: between {low} and 100")
        numbers[attr] = default if value is None else value
    if numbers["max_nodes"] < numbers["min_nodes"]:
        problems.append("c2d:maxNodes: at least c2d:minNodes")
    texts: dict[str, Any] = {
        attr: config.get(name) or ""
        for name, attr in (
            ("project", "project"),
            ("location", "location"),
            ("nodeType", "node_type"),
            ("gpuNodeType", "gpu_node_type"),
            ("gpuType", "gpu_type"),
            ("kubernetesVersion", "kubernetes_version"),
            ("vpcId", "vpc_id"),
        )
    }
    if kind == "gke":
        for name in ("project", "location"):
            if not texts[name]:
                problems.append(f"c2d:{name}: required with c2d:cluster gke")
    subnets: tuple[str, ...] = ()
    raw = config.get("subnetIds")
    if raw:
        try:
            parsed = json.loads(raw)
            if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
                raise ValueError
            subnets = tuple(parsed)
        except ValueError:
            problems.append('c2d:subnetIds: a JSON list of subnet ids (["subnet-…", …])')
    vpc_cidr = config.get("vpcCidr") or ClusterSettings.vpc_cidr
    try:
        ipaddress.ip_network(vpc_cidr)
    except ValueError:
        problems.append(f"c2d:vpcCidr: {vpc_cidr!r} is not a network")
    kubeconfig = config.get_secret("kubeconfig") if kind == "existing" else None
    return ClusterSettings(kind=kind, kubeconfig=kubeconfig, subnet_ids=subnets, vpc_cidr=vpc_cidr, **numbers, **texts)


def _gvisor(
    config: pulumi.Config, environments: list[Environment], cluster: str, loopback: bool, problems: list[str]
) -> GvisorSettings | None:
    """The RuntimeClass of gvisor environments' algorithm pods: declared by the stack with the
    nodes' handler (an existing cluster's nodes that run gVisor), or the cluster's own (handler
    none); refused where the stack would have to bring gVisor itself (eks, gke: not on their
    node images or node pools, and the stage pods of a job share its volumes with the
    algorithm's, on one node) or where no kubelet can choose it (the loopback test cluster)."""
    runtime_class = config.get("gvisorRuntimeClass") or GvisorSettings.runtime_class
    handler = config.get("gvisorHandler") or GvisorSettings.handler
    if not DNS_SUBDOMAIN.match(runtime_class):
        problems.append(f"c2d:gvisorRuntimeClass: {runtime_class!r} is not a RuntimeClass name (a DNS subdomain)")
    if handler != "none" and not DNS_LABEL.match(handler):
        problems.append(f"c2d:gvisorHandler: {handler!r} is not a runtime handler (a DNS label, as runsc), nor none")
    sandboxed = [e.id for e in environments if e.runtime == "gvisor"]
    if not sandboxed:
        return None
    which = ", ".join(sandboxed)
    if loopback:
        problems.append(
            f"c2d:environments: {which} run under gVisor, which the loopback test cluster's kubelet "
            "(dockershim) cannot choose: there gVisor is the docker executor's only (README)"
        )
        return None
    if cluster in ("eks", "gke") and handler != "none":
        problems.append(
            f"c2d:environments: {which} run under gVisor, which the stack does not bring to {cluster}'s nodes: "
            "with nodes of your own that run it and their RuntimeClass, set c2d:gvisorRuntimeClass to it "
            "and c2d:gvisorHandler none"
        )
        return None
    return GvisorSettings(runtime_class=runtime_class, handler="" if handler == "none" else handler)


def _endpoint(config: pulumi.Config, problems: list[str]) -> EndpointSettings:
    kind = config.get("endpoint") or "none"
    if kind == "none":
        return EndpointSettings()
    if kind not in ("ingress", "loadbalancer"):
        problems.append(f"c2d:endpoint: {kind!r} is neither 'none', 'ingress' nor 'loadbalancer'")
        return EndpointSettings()
    hostname = config.get("hostname") or ""
    if not DNS_SUBDOMAIN.match(hostname) or "." not in hostname:
        problems.append("c2d:hostname: required with an endpoint (the provider's DNS name, c2d.example.org)")
    settings: dict[str, Any] = {"kind": kind, "hostname": hostname}
    if kind == "loadbalancer":
        raw = config.get("loadBalancerAnnotations") or "{}"
        try:
            annotations = json.loads(raw)
        except json.JSONDecodeError:
            annotations = None
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            problems.append("c2d:loadBalancerAnnotations: a JSON object of texts (the cloud's TLS settings)")
            annotations = {}
        return EndpointSettings(**settings, load_balancer_annotations=annotations)
    for name, attr in (
        ("ingressClass", "ingress_class"),
        ("tlsSecret", "tls_secret"),
        ("tlsIssuer", "issuer"),
        ("tlsIssuerKind", "issuer_kind"),
        ("acmeEmail", "acme_email"),
        ("acmeServer", "acme_server"),
    ):
        value = config.get(name)
        if value:
            settings[attr] = value
    given = [
        name
        for name, attr in (("tlsSecret", "tls_secret"), ("tlsIssuer", "issuer"), ("acmeEmail", "acme_email"))
        if settings.get(attr)
    ]
    if len(given) != 1:
        problems.append(
            "c2d:tlsSecret, c2d:tlsIssuer, c2d:acmeEmail: exactly one with an ingress (its certificate: a Secret of "
            "yours, a cert-manager issuer of yours, or an ACME account's e-mail for an Issuer the stack makes)"
        )
    if settings.get("issuer_kind", "ClusterIssuer") not in ("Issuer", "ClusterIssuer"):
        problems.append("c2d:tlsIssuerKind: Issuer or ClusterIssuer")
    if settings.get("acme_email") and "@" not in settings["acme_email"]:
        problems.append("c2d:acmeEmail: an e-mail address")
    return EndpointSettings(**settings)


def _database(config: pulumi.Config, problems: list[str], *, loopback: bool) -> DatabaseSettings:
    kind = config.get("database") or "sqlite"
    if kind == "sqlite":
        return DatabaseSettings()
    replicas = {}
    for name in ("providerReplicas", "engineReplicas"):
        try:
            value = config.get_int(name)
        except (ValueError, TypeError):
            value = -1
        if value is not None and not 1 <= value <= 16:
            problems.append(f"c2d:{name}: between 1 and 16")
        replicas[name] = value or 2
    common: dict[str, Any] = {
        "provider_replicas": replicas["providerReplicas"],
        "engine_replicas": replicas["engineReplicas"],
    }
    if kind == "postgres":
        image = config.get("postgresImage") or ""
        if not image or ("@sha256:" not in image and not loopback):
            problems.append(
                "c2d:postgresImage: required with c2d:database postgres, by digest (docker pull postgres:16-bookworm "
                "&& docker inspect --format '{{index .RepoDigests 0}}' postgres:16-bookworm)"
            )
        password = config.get_secret("databasePassword")
        if password is None:
            problems.append("c2d:databasePassword: required with c2d:database postgres (config set --secret)")
        size = config.get("databaseSize") or "10Gi"
        if not QUANTITY.match(size):
            problems.append(f"c2d:databaseSize: {size!r} is not a storage quantity (for example 20Gi)")
        return DatabaseSettings(kind=kind, image=image, size=size, password=password, **common)
    if kind == "external":
        urls = {}
        for name in ("providerDatabaseUrl", "operatorDatabaseUrl"):
            urls[name] = config.get_secret(name)
            if urls[name] is None:
                problems.append(f"c2d:{name}: required with c2d:database external (--secret postgresql+psycopg://…)")
        cidr = config.get("databaseCidr") or ""
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            problems.append("c2d:databaseCidr: required with c2d:database external (its network: 10.0.5.0/24)")
        return DatabaseSettings(
            kind=kind,
            provider_url=urls["providerDatabaseUrl"],
            operator_url=urls["operatorDatabaseUrl"],
            cidr=cidr,
            **common,
        )
    problems.append(f"c2d:database: {kind!r} is neither 'sqlite', 'postgres' nor 'external'")
    return DatabaseSettings()


def _digests(raw: str | None, problems: list[str]) -> dict[str, str]:
    if not raw:
        return {}
    try:
        digests = json.loads(raw)
    except json.JSONDecodeError:
        digests = None
    if not isinstance(digests, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and DIGEST.match(v) for k, v in digests.items()
    ):
        problems.append('c2d:imageDigests: not a JSON object of component to "sha256:<64 hex digits>"')
        return {}
    return digests


def _checked_key(name: str, key: str) -> str:
    if not KEY.match(key):
        raise ConfigError(f"c2d:{name}: not a private key (0x followed by 64 hexadecimal digits)")
    return key if key.startswith("0x") else "0x" + key

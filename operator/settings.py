"""The operator's settings (service and engine), from environment variables (prefix C2D_)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from c2d.settings import AddressList, HttpLimitSettings, HttpUrl, PrivateKey, SettingsError, load, read_key_file


class OperatorSettings(HttpLimitSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C2D_", extra="ignore", frozen=True)

    operator_database_url: str = Field(default="sqlite:///operator.db", description="SQLAlchemy URL of the job store")
    operator_database_url_file: Path | None = Field(
        default=None,
        description="a file holding operator_database_url (mode 600, or a Secret's 440) when it is not set: "
        "a URL with a password stays out of the environment",
    )
    jobs_dir: Path = Field(description="where jobs' working directories and results live")
    operator_providers: AddressList = Field(
        min_length=1, description="comma-separated addresses of the providers allowed to call the operator service"
    )
    operator_key: PrivateKey | None = Field(
        default=None,
        description="the operator's key: signs the configure stage's input requests; the engine of the local and "
        "docker executors needs it (the service never does; configure pods read it from a Secret)",
    )
    operator_key_file: Path | None = Field(
        default=None, description="a file holding operator_key (mode 600), read when operator_key is not set"
    )
    provider_url: HttpUrl = Field(description="the provider the configure stage fetches inputs from")
    environments_file: Path | None = Field(default=None, description="JSON list of environments")
    executor: Literal["local", "docker", "kubernetes"] = Field(
        default="local", description="local (sandboxed processes), docker (a container per stage) or kubernetes"
    )
    images_tag: str = Field(
        default="dev", description="tag of the c2d/configure, c2d/publish images (docker, kubernetes)"
    )
    image_prefix: str = Field(default="c2d/", description="registry and prefix of c2d's images")
    images: dict[str, str] = Field(
        default_factory=dict,
        description='JSON {"configure": ref, "publish": ref}: the stage images by reference (name:tag@sha256:…), '
        "in place of image_prefix and images_tag",
    )
    docker_host: str = Field(default="", description="Docker daemon URL (docker executor); DOCKER_HOST if empty")
    docker_gvisor_runtime: str = Field(
        default="runsc",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the Docker daemon's name of gVisor's runtime (dockerd --add-runtime runsc=/usr/bin/runsc), "
        "for algorithms of gvisor environments",
    )
    kube_gvisor_class: str = Field(
        default="gvisor",
        pattern=r"^[a-z0-9.-]+$",
        description="the RuntimeClass of gVisor (handler runsc) for algorithms of gvisor environments",
    )
    kube_namespace: str = Field(default="c2d-jobs", description="namespace of the stage Jobs and WorkFlows")
    kubeconfig: Path | None = Field(default=None, description="kubeconfig of the cluster; in-cluster config if unset")
    kube_jobs_claim: str = Field(
        default="", description="PVC holding jobs_dir, mounted by stage pods; a hostPath of jobs_dir if empty"
    )
    kube_jobs_subpath: str = Field(
        default="", description="where jobs_dir is inside the claim (kube_jobs_claim); its root if empty"
    )
    kube_outputs_class: str = Field(
        default="",
        description="storage class of a claim of the environment's diskMb per job for the algorithm's outputs "
        "(its hard disk quota); if empty: a loop-mounted volume when the engine runs as root beside a hostPath "
        "jobs_dir, else the jobs volume (bounded at publish only)",
    )
    kube_operator_key_secret: str = Field(
        default="c2d-operator-key", description="Secret (key operator-key) configure pods sign input requests with"
    )
    kube_loopback: bool = Field(
        default=False,
        description="a cluster without a pod network or registry, such as the loopback test cluster: stages that "
        "need the network use the node's (loopback only), images are never pulled",
    )
    kube_max_pod_pids: int = Field(
        default=1024,
        ge=0,
        description="the kubernetes executor refuses to start when a probe pod can run this many processes "
        "(the nodes' pod PID limit is missing or above it); 0 skips the check",
    )
    max_job_bytes: int = Field(
        default=8 << 20, ge=64 << 10, description="largest job request (DDOs and a raw algorithm) the service takes"
    )
    results_ttl: int = Field(default=7 * 24 * 3600, ge=60, description="seconds results are kept after a job ends")
    poll_interval: float = Field(default=0.05, gt=0, description="seconds between two looks at the job store")
    engine_id: str = Field(
        default="",
        max_length=128,
        description="this engine's name in the job store's leases and transitions; the host's name if empty "
        "(engines sharing one store need distinct names: a second live engine of one name is refused)",
    )
    lease_seconds: float = Field(
        default=30.0,
        ge=2,
        le=3600,
        description="how long a job stays an engine's without it renewing (every third of it): after that, another "
        "engine on the same store takes the job over and continues it from its recorded status",
    )

    publisher_page_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="the credential of the publisher's page (/ui of the operator service: every job, the queue, "
        "failures and their reasons); no page without it",
    )
    publisher_page_token_file: Path | None = Field(
        default=None, description="a file holding publisher_page_token (mode 600), read when it is not set"
    )
    engine_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="the engine's Prometheus metrics port (stage durations, jobs ended); 0: none",
    )
    engine_metrics_host: str = Field(default="127.0.0.1", description="the address the engine's metrics listen on")

    @model_validator(mode="before")
    @classmethod
    def _key_file(cls, data: object) -> object:
        keys = read_key_file(read_key_file(data, "operator_key"), "operator_database_url")
        return read_key_file(keys, "publisher_page_token")

    @field_validator("jobs_dir")
    @classmethod
    def _directory(cls, value: Path) -> Path:
        value.mkdir(parents=True, exist_ok=True)
        return value.resolve()

    def signing_key(self) -> str:
        """The operator key, for an engine whose stages sign input requests themselves."""
        if self.operator_key is None:
            problem = f"C2D_OPERATOR_KEY: the {self.executor} executor needs it"
            raise SettingsError(f"invalid operator settings:\n  {problem}")
        return self.operator_key.get_secret_value()

    def image(self, name: str) -> str:
        return self.images.get(name) or f"{self.image_prefix}{name}:{self.images_tag}"


def load_settings(**overrides: object) -> OperatorSettings:
    """Reads the settings; raises SettingsError listing every bad variable (never its value)."""
    return load(OperatorSettings, "operator", overrides)

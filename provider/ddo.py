"""The DDO format the provider reads (Ocean v3-like).

    {"id": "did:op:…", "publicKey": [...],
     "service": [
       {"type": "metadata", "index": 0,
        "attributes": {"main": {"type": "dataset" | "algorithm", "name": …,
                                "files": [{"index": 0, "contentType": …, "checksum": <sha256 hex>}],
                                "algorithm": {"language": …,
                                              "container": {"entrypoint": …, "image": …, "tag": …}}},
                       "encryptedFiles": "0x…"}},
       {"type": "access" | "compute", "index": 1,
        "attributes": {"main": {"cost": "<wei>", "timeout": <seconds, 0 = none>,
                                "privacy": {"allowRawAlgorithm": …, "allowNetworkAccess": …,
                                            "allowAllPublishedAlgorithms": …,
                                            "publisherTrustedAlgorithms": [{"did", "filesChecksum",
                                                                            "containerSectionChecksum"}],
                                            "publisherTrustedAlgorithmPublishers": ["0x…"]},
                                "outputPolicy": {…} (c2d.job.policy; the default when absent)}}}]}

`encryptedFiles` is what /encrypt returned: the file URLs, readable only by the provider.
"""

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from c2d.job.policy import OutputPolicy
from c2d.provider.errors import InvalidRequest, NotFound

Wei = Annotated[int, Field(ge=0, lt=2**256)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class FileInfo(_Model):
    index: int = Field(ge=0)
    contentType: str | None = None
    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="sha256 of the content")


class Container(_Model):
    entrypoint: str
    image: str
    tag: str
    checksum: str | None = None


class AlgorithmInfo(_Model):
    language: str | None = None
    container: Container


class AssetMain(_Model):
    type: Literal["dataset", "algorithm"]
    name: str
    files: list[FileInfo] = []
    algorithm: AlgorithmInfo | None = None


class MetadataAttributes(_Model):
    main: AssetMain
    encryptedFiles: str | None = None


class MetadataService(_Model):
    type: Literal["metadata"]
    index: int = Field(ge=0)
    attributes: MetadataAttributes


class TrustedAlgorithm(_Model):
    did: str
    filesChecksum: str
    containerSectionChecksum: str


class Privacy(_Model):
    allowRawAlgorithm: bool = False
    allowNetworkAccess: bool = False
    allowAllPublishedAlgorithms: bool = False
    publisherTrustedAlgorithms: list[TrustedAlgorithm] = []
    publisherTrustedAlgorithmPublishers: list[str] = []


class ServiceMain(_Model):
    name: str | None = None
    cost: Wei
    timeout: int = Field(ge=0)
    privacy: Privacy | None = None
    outputPolicy: OutputPolicy | None = Field(default=None, description="what may leave (c2d.job.policy)")

    @field_validator("cost", mode="before")
    @classmethod
    def _cost_from_string(cls, value: Any) -> Any:
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value


class ServiceAttributes(_Model):
    main: ServiceMain


class PaidService(_Model):
    type: Literal["access", "compute"]
    index: int = Field(ge=0)
    serviceEndpoint: str | None = None
    attributes: ServiceAttributes


Service = Annotated[MetadataService | PaidService, Field(discriminator="type")]


class DDO(_Model):
    id: str | None = None
    publicKey: list[dict[str, Any]] = []
    service: list[Service]

    @field_validator("service")
    @classmethod
    def _one_metadata_unique_indexes(cls, services: list[Any]) -> list[Any]:
        if sum(1 for s in services if s.type == "metadata") != 1:
            raise ValueError("a DDO has exactly one metadata service")
        indexes = [s.index for s in services]
        if len(indexes) != len(set(indexes)):
            raise ValueError("service indexes must be unique")
        return services

    @property
    def metadata(self) -> MetadataService:
        return next(s for s in self.service if isinstance(s, MetadataService))

    @property
    def main(self) -> AssetMain:
        return self.metadata.attributes.main

    def paid_service(self, index: int, kind: Literal["access", "compute"]) -> PaidService:
        for service in self.service:
            if service.index == index:
                if not isinstance(service, PaidService) or service.type != kind:
                    raise InvalidRequest(f"service {index} is not a {kind} service", code="wrong_service_type")
                return service
        raise NotFound(f"the asset has no service {index}", code="unknown_service")


def parse_ddo(data: dict[str, Any]) -> DDO:
    return DDO.model_validate(data)


def container_checksum(container: Container) -> str:
    """sha256 of the container section as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(container.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def files_checksum(content_checksums: list[str]) -> str:
    """sha256 over the concatenated sha256 hex digests of an algorithm's files, in index order."""
    return hashlib.sha256("".join(content_checksums).encode()).hexdigest()

"""Building DDOs and publishing assets: what a publisher does with the chain and the provider."""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress

from c2d.chain import ChainClient, did_for
from c2d.client import ProviderClient

ACCESS_SERVICE_ID = 1
COMPUTE_SERVICE_ID = 2


@dataclass
class PublishedFile:
    """A file as the publisher gives it: its URL goes only to the provider, encrypted."""

    url: str
    content_type: str = "application/octet-stream"
    checksum: str | None = None  # sha256 of the content, declared in the DDO

    @classmethod
    def local(
        cls, path: Path, content_type: str = "application/octet-stream", served_as: Path | None = None
    ) -> "PublishedFile":
        """A file of the provider's data root; `served_as`: its path as the provider sees it,
        when that differs from this machine's (a provider in a container, say)."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return cls((served_as or path.resolve()).as_uri(), content_type, digest.hexdigest())

    @classmethod
    def remote(
        cls, url: str, content_type: str = "application/octet-stream", checksum: str | None = None
    ) -> "PublishedFile":
        """A file the provider fetches from `url` (http or https) each time it is needed."""
        return cls(url, content_type, checksum)


@dataclass
class Privacy:
    allowRawAlgorithm: bool = False
    allowNetworkAccess: bool = False
    allowAllPublishedAlgorithms: bool = False
    publisherTrustedAlgorithms: list[dict[str, str]] = field(default_factory=list)
    publisherTrustedAlgorithmPublishers: list[str] = field(default_factory=list)


@dataclass
class Services:
    access_cost: int | None = None
    compute_cost: int | None = None
    timeout: int = 3600
    privacy: Privacy = field(default_factory=Privacy)
    # What a consumer gives when starting a job (c2d.provider.parameters): declared by a
    # dataset's compute service, or by an algorithm's metadata.
    consumer_parameters: list[dict[str, Any]] = field(default_factory=list)
    # What may leave a compute job on the dataset (c2d.job.policy); None: the default policy.
    output_policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Published:
    did: str
    datatoken: ChecksumAddress
    ddo: dict[str, Any]


def build_ddo(
    did: str,
    name: str,
    kind: str,
    files: list[PublishedFile],
    encrypted: str,
    services: Services,
    publisher: str,
    container: dict[str, str] | None = None,
) -> dict[str, Any]:
    main: dict[str, Any] = {
        "type": kind,
        "name": name,
        "files": [
            {"index": i, "contentType": f.content_type, **({"checksum": f.checksum} if f.checksum else {})}
            for i, f in enumerate(files)
        ],
    }
    if container is not None:
        main["algorithm"] = {"language": "python", "container": container}
        if services.consumer_parameters:
            main["algorithm"]["consumerParameters"] = services.consumer_parameters
    service: list[dict[str, Any]] = [
        {"type": "metadata", "index": 0, "attributes": {"main": main, "encryptedFiles": encrypted}}
    ]
    if services.access_cost is not None:
        service.append(
            {
                "type": "access",
                "index": ACCESS_SERVICE_ID,
                "attributes": {
                    "main": {
                        "name": "download",
                        "cost": str(services.access_cost),
                        "timeout": services.timeout,
                    }
                },
            }
        )
    if services.compute_cost is not None:
        service.append(
            {
                "type": "compute",
                "index": COMPUTE_SERVICE_ID,
                "attributes": {
                    "main": {
                        "name": "compute",
                        "cost": str(services.compute_cost),
                        "timeout": services.timeout,
                        "privacy": services.privacy.__dict__,
                        **_parameters(services),
                        **({"outputPolicy": services.output_policy} if services.output_policy is not None else {}),
                    }
                },
            }
        )
    return {
        "@context": "https://w3id.org/did/v1",
        "id": did,
        "publicKey": [{"id": did, "type": "EthereumECDSAKey", "owner": publisher}],
        "service": service,
    }


def _parameters(services: Services) -> dict[str, Any]:
    return {"consumerParameters": services.consumer_parameters} if services.consumer_parameters else {}


def publish(
    chain: ChainClient,
    provider: ProviderClient,
    name: str,
    files: list[PublishedFile],
    services: Services,
    kind: str = "dataset",
    container: dict[str, str] | None = None,
    supply: int = 1000 * 10**18,
) -> Published:
    """Creates the datatoken, mints `supply` to the publisher, has the provider encrypt the file
    URLs, and writes the DDO on chain."""
    datatoken = chain.create_datatoken(name, "C2D", max(supply, 1) * 10)
    chain.mint(datatoken, chain.address, supply)
    did = did_for(datatoken)
    encrypted = provider.encrypt(
        did, [{"index": i, "url": f.url, "contentType": f.content_type} for i, f in enumerate(files)]
    )
    ddo = build_ddo(did, name, kind, files, encrypted, services, chain.address, container)
    chain.publish_metadata(datatoken, ddo)
    return Published(did, datatoken, ddo)

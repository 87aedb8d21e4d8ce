"""Which algorithm may run on a dataset: the compute service's privacy settings, deny by default."""

from dataclasses import dataclass
from typing import Any

from c2d.provider.ddo import DDO, Container, Privacy, container_checksum, files_checksum
from c2d.provider.errors import Forbidden, InvalidRequest
from c2d.provider.store import Asset


class AlgorithmNotAllowed(Forbidden):
    code = "algorithm_not_allowed"


@dataclass(frozen=True)
class PublishedAlgorithm:
    did: str
    publisher: str
    ddo: DDO
    asset: Asset


@dataclass(frozen=True)
class RawAlgorithm:
    code: str
    container: Container


Algorithm = PublishedAlgorithm | RawAlgorithm


def container_of(ddo: DDO) -> Container:
    algorithm = ddo.main.algorithm
    if ddo.main.type != "algorithm" or algorithm is None:
        raise InvalidRequest("the asset given as algorithm is not an algorithm", code="not_an_algorithm")
    return algorithm.container


def trust_decision(privacy: Privacy | None, algorithm: Algorithm) -> dict[str, Any] | None:
    """Decides without looking at the algorithm's files. Returns None when the algorithm is
    allowed outright, or the publisherTrustedAlgorithms entry whose checksums the caller must
    still compare (with `check_checksums`); raises AlgorithmNotAllowed otherwise."""
    if privacy is None:
        raise AlgorithmNotAllowed("this compute service allows no algorithm")
    if isinstance(algorithm, RawAlgorithm):
        if not privacy.allowRawAlgorithm:
            raise AlgorithmNotAllowed("this dataset does not allow raw algorithms", code="raw_algorithm_not_allowed")
        return None
    if privacy.allowAllPublishedAlgorithms:
        return None
    if algorithm.publisher.lower() in {p.lower() for p in privacy.publisherTrustedAlgorithmPublishers}:
        return None
    for trusted in privacy.publisherTrustedAlgorithms:
        if trusted.did == algorithm.did:
            return trusted.model_dump()
    raise AlgorithmNotAllowed("the dataset's publisher does not trust this algorithm", code="algorithm_not_trusted")


def check_checksums(trusted: dict[str, Any], algorithm: PublishedAlgorithm, content_checksums: list[str]) -> None:
    """Compares a trusted algorithm's recorded checksums with those recomputed now."""
    if files_checksum(content_checksums) != trusted["filesChecksum"]:
        raise AlgorithmNotAllowed(
            "the algorithm's files changed since it was trusted", code="algorithm_checksum_mismatch"
        )
    if container_checksum(container_of(algorithm.ddo)) != trusted["containerSectionChecksum"]:
        raise AlgorithmNotAllowed(
            "the algorithm's container changed since it was trusted", code="algorithm_checksum_mismatch"
        )

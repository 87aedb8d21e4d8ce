"""Reading assets' DDOs from the Metadata contract's events."""

from dataclasses import dataclass
from typing import Literal

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from c2d.chain.connection import Chain
from c2d.chain.did import datatoken_for


@dataclass(frozen=True)
class MetadataRecord:
    datatoken: ChecksumAddress
    kind: Literal["created", "updated"]
    publisher: ChecksumAddress
    flags: bytes
    data: bytes  # the DDO as published (flags 0: plain UTF-8 JSON)
    block_number: int
    log_index: int
    tx_hash: str


def metadata_history(chain: Chain, did: str, to_block: int | str = "latest") -> list[MetadataRecord]:
    """Every MetadataCreated/MetadataUpdated of the DID's datatoken, oldest first."""
    token = datatoken_for(did)
    records: list[MetadataRecord] = []
    for kind, event in (
        ("created", chain.metadata.events.MetadataCreated),
        ("updated", chain.metadata.events.MetadataUpdated),
    ):
        logs = event().get_logs(
            from_block=chain.deployment.start_block, to_block=to_block, argument_filters={"dataToken": token}
        )
        for log in logs:
            args = log["args"]
            records.append(
                MetadataRecord(
                    datatoken=to_checksum_address(args["dataToken"]),
                    kind=kind,  # type: ignore[arg-type]
                    publisher=to_checksum_address(args.get("createdBy") or args.get("updatedBy")),
                    flags=bytes(args["flags"]),
                    data=bytes(args["data"]),
                    block_number=log["blockNumber"],
                    log_index=log["logIndex"],
                    tx_hash="0x" + log["transactionHash"].hex().removeprefix("0x"),
                )
            )
    records.sort(key=lambda r: (r.block_number, r.log_index))
    return records


def latest_metadata(chain: Chain, did: str) -> MetadataRecord | None:
    history = metadata_history(chain, did)
    return history[-1] if history else None

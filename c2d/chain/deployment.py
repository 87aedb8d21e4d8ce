"""Where the contracts are on a chain: one chain id's entry of addresses.json."""

import json
from dataclasses import dataclass
from pathlib import Path

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from c2d.chain.errors import DeploymentMissing

CONTRACTS = (
    "DataTokenTemplate",
    "DataTokenFactory",
    "Metadata",
    "FixedRateExchange",
    "Dispenser",
    "OrderBatcher",
    "BaseToken",
)


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    addresses: dict[str, ChecksumAddress]
    start_block: int
    community_fee_collector: ChecksumAddress

    @classmethod
    def load(cls, path: Path, chain_id: int) -> "Deployment":
        try:
            chains = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DeploymentMissing(f"no addresses file at {path}") from None
        except json.JSONDecodeError as exc:
            raise DeploymentMissing(f"{path} is not valid JSON: {exc}") from None
        record = chains.get(str(chain_id)) if isinstance(chains, dict) else None
        if not record:
            raise DeploymentMissing(f"{path} has no deployment for chain {chain_id}")
        return cls.from_record(record, chain_id, str(path))

    @classmethod
    def from_record(cls, record: object, chain_id: int, source: str) -> "Deployment":
        """One chain's entry of addresses.json (also what a provider's `GET /` shows as its
        `deployment`); `source` names where it came from in errors."""
        contracts = record.get("contracts") if isinstance(record, dict) else None
        if not isinstance(contracts, dict):
            raise DeploymentMissing(f"{source} lists no contracts on chain {chain_id}")
        missing = [name for name in CONTRACTS if name not in contracts]
        if missing:
            raise DeploymentMissing(f"{source} lacks {', '.join(missing)} on chain {chain_id}")
        assert isinstance(record, dict)
        try:
            return cls(
                chain_id=chain_id,
                addresses={name: to_checksum_address(contracts[name]["address"]) for name in CONTRACTS},
                start_block=int(record["startBlock"]),
                community_fee_collector=to_checksum_address(record["communityFeeCollector"]),
            )
        except (KeyError, TypeError, ValueError):
            raise DeploymentMissing(f"{source} has a malformed deployment for chain {chain_id}") from None

    def record(self) -> dict[str, object]:
        """As one chain's entry of addresses.json."""
        return {
            "contracts": {name: {"address": address} for name, address in self.addresses.items()},
            "startBlock": self.start_block,
            "communityFeeCollector": self.community_fee_collector,
        }

    def __getitem__(self, name: str) -> ChecksumAddress:
        return self.addresses[name]

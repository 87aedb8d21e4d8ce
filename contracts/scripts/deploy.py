"""Deploys c2d's contracts to the chain at $C2D_RPC_URL and records their addresses.

    C2D_RPC_URL=http://127.0.0.1:8545 scripts/brownie.sh run scripts/deploy.py --network c2d-rpc

Environment:
    C2D_RPC_URL            the chain's JSON-RPC URL (read by the `c2d-rpc` network)
    C2D_ADDRESSES_FILE     addresses.json to update (default: addresses.json in the working directory)
    C2D_DEPLOYER_KEY       private key of the deployer; default: the node's first unlocked account
    C2D_COMMUNITY_FEE_COLLECTOR   receiver of the community fee; default: the deployer
    C2D_BASE_TOKEN_SUPPLY  whole base tokens minted to the deployer (default 1,000,000,000)

addresses.json maps a chain id to that chain's deployment. A contract recorded there is reused
when the code on chain is still the code recorded and the build has not changed since;
otherwise it is deployed again. Running the script twice therefore sends no transaction.
"""

import json
import os
from pathlib import Path
from typing import Any

import brownie.network.contract
from brownie import (
    BaseToken,
    DataToken,
    DataTokenFactory,
    Dispenser,
    FixedRateExchange,
    Metadata,
    OrderBatcher,
    accounts,
    web3,
)

ZERO = "0x0000000000000000000000000000000000000000"

# addresses.json is the record of a deployment. Brownie's own records of live deployments
# (build/deployments/ and its sqlite database) are turned off: they would pile up a copy of
# every build per run, and brownie 1.22's database writer crashes on them
# (TypeError in network.state._add_deployment).
brownie.network.contract._add_deployment = lambda *args, **kwargs: None
brownie.network.contract.ProjectContract._save_deployment = lambda self: None


def _deployer() -> Any:
    key = os.environ.get("C2D_DEPLOYER_KEY")
    if key:
        return accounts.add(key)
    if not accounts:
        raise SystemExit("deploy: no C2D_DEPLOYER_KEY and the node has no unlocked account")
    return accounts[0]


def _load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {}


def _code_hash(address: str) -> str:
    return web3.keccak(web3.eth.get_code(address)).hex()


class Deployment:
    """One chain's entry of addresses.json, deploying what is missing or outdated."""

    def __init__(self, record: dict, deployer: Any) -> None:
        self.record = record
        self.deployer = deployer
        self.reused: list[str] = []
        self.deployed: list[str] = []

    def ensure(self, key: str, container: Any, *args: Any, after: tuple[str, ...] = ()) -> str:
        """The contract `key`, deployed again when its build or code changed, or when one of
        the contracts it was made with (`after`) was deployed again."""
        entry = self.record.get("contracts", {}).get(key)
        build_hash = container._build["bytecodeSha1"]
        fresh = any(name in self.deployed for name in after)
        if entry and not fresh and entry["build"] == build_hash and _code_hash(entry["address"]) == entry["codeHash"]:
            self.reused.append(key)
            return entry["address"]
        contract = container.deploy(*args, {"from": self.deployer})
        self.record.setdefault("contracts", {})[key] = {
            "address": contract.address,
            "build": build_hash,
            "codeHash": _code_hash(contract.address),
            "block": contract.tx.block_number,
        }
        self.deployed.append(key)
        return contract.address


def main() -> None:
    path = Path(os.environ.get("C2D_ADDRESSES_FILE", "addresses.json"))
    chain_id = str(web3.eth.chain_id)
    all_chains = _load(path)
    deployer = _deployer()
    community = os.environ.get("C2D_COMMUNITY_FEE_COLLECTOR") or deployer.address
    supply = int(os.environ.get("C2D_BASE_TOKEN_SUPPLY", 10**9)) * 10**18

    deployment = Deployment(all_chains.get(chain_id, {}), deployer)
    template = deployment.ensure("DataTokenTemplate", DataToken, community, "", "", ZERO, 0)
    factory = deployment.ensure("DataTokenFactory", DataTokenFactory, template, after=("DataTokenTemplate",))
    deployment.ensure("Metadata", Metadata, factory, after=("DataTokenFactory",))
    deployment.ensure("FixedRateExchange", FixedRateExchange)
    deployment.ensure("Dispenser", Dispenser)
    deployment.ensure("OrderBatcher", OrderBatcher)
    deployment.ensure("BaseToken", BaseToken, "c2d Base Token", "C2DB", supply)

    record = deployment.record
    record["communityFeeCollector"] = DataToken.at(template).communityFeeCollector()
    record["deployer"] = deployer.address
    record["startBlock"] = min(c["block"] for c in record["contracts"].values())
    all_chains[chain_id] = record
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(all_chains, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    deployed, reused = deployment.deployed or "nothing", deployment.reused or "nothing"
    print(f"chain {chain_id}: deployed {deployed}, reused {reused}")
    print(f"addresses written to {path}")

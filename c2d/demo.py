"""The demo: a local chain, the contracts, and one paid order verified the way the provider
will verify it. Each step prints what it did and how long it took."""

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from c2d.chain import Chain, ChainClient, Wallet, did_for, latest_metadata, order_amount, verify_order
from c2d.localchain import Ganache, deploy_contracts, dev_keys

ONE = 10**18
COMPUTE_SERVICE_ID = 1


def _ddo(cost: int) -> dict[str, object]:
    """An Ocean v3-style DDO with one compute service. Its `files` stay empty here: the provider's
    /encrypt fills them once the provider is part of the stack."""
    return {
        "@context": "https://w3id.org/did/v1",
        "service": [
            {
                "type": "metadata",
                "index": 0,
                "attributes": {
                    "main": {
                        "type": "dataset",
                        "name": "Demo weather readings",
                        "author": "c2d demo",
                        "license": "CC0",
                    }
                },
            },
            {
                "type": "compute",
                "index": COMPUTE_SERVICE_ID,
                "attributes": {
                    "main": {
                        "name": "compute",
                        "cost": str(cost),
                        "timeout": 3600,
                        "privacy": {"allowRawAlgorithm": False, "allowNetworkAccess": False},
                    }
                },
            },
        ],
    }


class _Steps:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.perf_counter()

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        details: list[str] = []
        t0 = time.perf_counter()
        with self.console.status(title):
            yield details
        elapsed = time.perf_counter() - t0
        self.console.print(f"[green]✔[/] {title} [dim]({elapsed:.2f} s)[/]")
        for line in details:
            self.console.print(f"    {line}")

    def total(self) -> float:
        return time.perf_counter() - self.started


def run(console: Console | None = None, port: int | None = None) -> float:
    """Runs the demo; returns the seconds from start to the verified order."""
    console = console or Console()
    steps = _Steps(console)
    work = Path(tempfile.mkdtemp(prefix="c2d-demo-"))
    deployer_key, publisher_key, consumer_key = dev_keys(3)

    ganache = Ganache(port=port, log_path=work / "ganache.log")
    with steps.step("Start a local Ganache chain") as out:
        ganache.start()
        out.append(f"RPC {ganache.url}, chain id 1337")
    try:
        with steps.step("Deploy the contracts (brownie)") as out:
            deployment = deploy_contracts(ganache.url, work / "addresses.json", deployer_key)
            for name, address in deployment.addresses.items():
                out.append(f"{name:<18} {address}")
        chain = Chain.at(ganache.url, work / "addresses.json")
        deployer = ChainClient(chain, Wallet(chain.w3, deployer_key))
        publisher = ChainClient(chain, Wallet(chain.w3, publisher_key))
        consumer = ChainClient(chain, Wallet(chain.w3, consumer_key))
        cost = ONE

        with steps.step("Publisher creates a datatoken and mints 100") as out:
            datatoken = publisher.create_datatoken("Demo Weather Data", "WX", 10_000 * ONE)
            publisher.mint(datatoken, publisher.address, 100 * ONE)
            did = did_for(datatoken)
            out.append(f"datatoken {datatoken} (a minimal proxy)")
            out.append(f"asset     {did}")

        with steps.step("Publisher writes the DDO to the Metadata contract") as out:
            publisher.publish_metadata(datatoken, _ddo(cost))
            record = latest_metadata(chain, did)
            assert record is not None
            out.append(f"{len(record.data)} bytes of DDO in block {record.block_number}, read back by DID")

        with steps.step("Publisher lists 50 datatokens at 2 base tokens each") as out:
            exchange_id = publisher.create_exchange(datatoken, 2 * ONE, 50 * ONE)
            out.append(f"exchange {exchange_id.hex()[:16]}…")

        with steps.step("Consumer gets 10 base tokens and buys datatokens") as out:
            deployer.wallet.send(chain.base_token.functions.transfer(consumer.address, 10 * ONE))
            amount = order_amount(cost)
            consumer.buy(exchange_id, amount)
            out.append(f"paid {2 * amount / ONE:.4f} base tokens for {amount / ONE:.4f} datatokens")
            out.append("(the order covers the 0.1 % community fee on top of the 1.0 DT service cost)")

        with steps.step("Consumer starts an order for the compute service") as out:
            order = consumer.start_order(datatoken, amount, COMPUTE_SERVICE_ID)
            out.append(f"tx {order.tx_hash}")

        with steps.step("Verify the order as the provider will") as out:
            meta = json.loads(record.data)
            service = next(s for s in meta["service"] if s["type"] == "compute")
            verified = verify_order(
                chain.w3,
                order.tx_hash,
                datatoken=datatoken,
                service_id=service["index"],
                consumer=consumer.address,
                min_net_amount=int(service["attributes"]["main"]["cost"]),
                timeout=service["attributes"]["main"]["timeout"],
            )
            out.append(f"consumer {verified.consumer}  service {verified.service_id}  block {verified.block_number}")
            out.append(
                f"amount {verified.amount / ONE:.4f} DT, "
                f"publisher receives {verified.net_amount / ONE:.4f} DT (cost {cost / ONE:.1f} DT)"
            )
        to_verified = steps.total()
    finally:
        ganache.stop()
    console.print(f"[bold]Order verified {to_verified:.2f} s after the start; Ganache stopped.[/]")
    return to_verified

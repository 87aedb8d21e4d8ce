"""Gas of c2d's contract operations on Ganache, against Ocean v3's figures (../shared/TARGETS.md)
and against a baseline measured in the same run: deploying a full, non-proxy DataToken.

    make bench            (or: .venv/bin/python -m bench.gas)

"First" means the first write of the party the row is about: the holder of a first mint, the
community fee collector of a token's first order, the market fee collector of its first market
order, a buyer's first datatokens, a user's first dispense. The publisher is an established
account, as in a sale: it holds its own datatokens (minted to itself) and base tokens. Ocean's
figures only add up under that reading (71,347 gas for an order leaves room for one balance
written from zero). A second table gives the worst case, where every receiving balance of the
transaction starts at zero; it has no Ocean counterpart.
"""

import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table
from web3.types import TxReceipt

from bench import figures
from c2d.chain import Chain, ChainClient, Wallet, load_artifact
from c2d.localchain import Ganache, deploy_contracts, dev_keys

ONE = 10**18
ZERO = "0x0000000000000000000000000000000000000000"
CLONE_TARGET = 0.25  # createToken's gas over a full DataToken deployment's

# Ocean v3 (v0.6.9, solc 0.5.7), Ganache 7.9.2 shanghai: ../shared/TARGETS.md
OCEAN_V3 = {
    "deploy full DataToken": 1_644_573,
    "createToken (clone)": 223_479,
    "mint, first": 75_867,
    "startOrder, no market fee, first": 71_347,
    "startOrder, market fee, first": 80_125,
    "Metadata.create, 2048 bytes": 83_925,
    "FixedRateExchange.create": 160_376,
    "swap 1 DT, first": 102_168,
    "Dispenser.dispense 1 DT, first": 99_641,
}


def measure(chain: Chain, keys: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    deployer, publisher, consumer, market, buyer = (ChainClient(chain, Wallet(chain.w3, k)) for k in keys[:5])
    gas: dict[str, int] = {}
    cold: dict[str, int] = {}

    def record(name: str, receipt: TxReceipt) -> None:
        gas[name] = int(receipt["gasUsed"])

    def fresh_token(symbol: str) -> str:
        return publisher.create_datatoken("Bench Token", symbol, 10**6 * ONE)

    template = load_artifact("DataToken")
    full = chain.w3.eth.contract(abi=template.abi, bytecode=template.bytecode).constructor(
        chain.deployment.community_fee_collector, "Bench Token", "BT", publisher.address, 10**6 * ONE
    )
    record("deploy full DataToken", publisher.wallet.send(full))
    record(
        "createToken (clone)",
        publisher.wallet.send(chain.factory.functions.createToken("Bench Token", "BT", 10**6 * ONE)),
    )

    token = fresh_token("M")
    record("mint, first", publisher.mint(token, consumer.address, 10 * ONE))

    def order(tok: str, collector: str) -> TxReceipt:
        return consumer.wallet.send(chain.datatoken(tok).functions.startOrder(consumer.address, ONE, 1, collector))

    def sold_token(symbol: str) -> str:
        """A token whose publisher holds supply and has sold 10 to the consumer."""
        tok = fresh_token(symbol)
        publisher.mint(tok, publisher.address, 100 * ONE)
        publisher.wallet.send(chain.datatoken(tok).functions.transfer(consumer.address, 10 * ONE))
        return tok

    def market_fee(tok: str) -> None:
        # 0.1 %, as Ocean v3's; the minter names the collector, whom an order must then name.
        publisher.wallet.send(chain.datatoken(tok).functions.setMarketFee(10, market.address))

    token = sold_token("O")
    record("startOrder, no market fee, first", order(token, ZERO))
    market_fee(token)
    record("startOrder, market fee, first", order(token, market.address))

    token = fresh_token("OC")
    publisher.mint(token, consumer.address, 10 * ONE)
    market_fee(token)
    cold["startOrder, market fee (community, market, minter from zero)"] = int(order(token, market.address)["gasUsed"])

    payload = bytes(range(1, 256)) * 8 + bytes(range(1, 9))  # 2048 non-zero bytes
    token = fresh_token("MD")
    record(
        "Metadata.create, 2048 bytes",
        publisher.wallet.send(chain.metadata.functions.create(token, b"\x00", payload)),
    )

    token = fresh_token("EX")
    publisher.mint(token, publisher.address, 100 * ONE)
    publisher.wallet.send(chain.datatoken(token).functions.approve(chain.exchange.address, 2**256 - 1))
    receipt = publisher.wallet.send(chain.exchange.functions.create(chain.base_token.address, token, ONE))
    record("FixedRateExchange.create", receipt)
    (created,) = chain.exchange.events.ExchangeCreated().process_receipt(receipt)
    exchange_id = created["args"]["exchangeId"]
    for account in (buyer, market):
        deployer.wallet.send(chain.base_token.functions.transfer(account.address, 10 * ONE))
        account.wallet.send(chain.base_token.functions.approve(chain.exchange.address, 2**256 - 1))
    cold["swap 1 DT (owner's first base tokens, buyer's first datatokens)"] = int(
        market.wallet.send(chain.exchange.functions.swap(exchange_id, ONE, ONE))["gasUsed"]
    )
    record("swap 1 DT, first", buyer.wallet.send(chain.exchange.functions.swap(exchange_id, ONE, ONE)))

    token = fresh_token("DS")
    publisher.enable_dispenser(token, 10 * ONE, 10 * ONE)
    record("Dispenser.dispense 1 DT, first", buyer.dispense(token, ONE))
    return gas, cold


def report(gas: dict[str, int], cold: dict[str, int], console: Console) -> bool:
    table = Table(title="Gas used (Ganache 7.9.2, shanghai)")
    for column in ("operation", "c2d", "Ocean v3", "c2d / Ocean"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for name, used in gas.items():
        ocean = OCEAN_V3[name]
        table.add_row(name, f"{used:,}", f"{ocean:,}", f"{used / ocean:.2f}")
        if name == "deploy full DataToken":  # the clone's baseline, not held to Ocean's figure
            figures.record("gas", name, used, f"baseline (Ocean v3 {ocean:,})", None)
        else:
            figures.record("gas", name, used, f"≤ {ocean:,} (Ocean v3)", used <= ocean)
    console.print(table)
    worst = Table(title="Worst case: every receiving balance from zero")
    worst.add_column("operation")
    worst.add_column("c2d", justify="right")
    for name, used in cold.items():
        worst.add_row(name, f"{used:,}")
    console.print(worst)
    ratio = gas["createToken (clone)"] / gas["deploy full DataToken"]
    console.print(
        f"createToken / full DataToken deployment (baseline, same run): [bold]{ratio:.1%}[/] "
        f"(target ≤ {CLONE_TARGET:.0%})"
    )
    figures.record("gas", "createToken / full DataToken", ratio, f"≤ {CLONE_TARGET}", ratio <= CLONE_TARGET)
    over = [name for name, used in gas.items() if name != "deploy full DataToken" and used > OCEAN_V3[name]]
    if over:
        console.print(f"[yellow]above Ocean v3: {', '.join(over)}[/]")
    return ratio <= CLONE_TARGET


def main() -> int:
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="c2d-bench-"))
    keys = dev_keys(5)
    with Ganache(log_path=work / "ganache.log") as ganache:
        deploy_contracts(ganache.url, work / "addresses.json", keys[0])
        gas, cold = measure(Chain.at(ganache.url, work / "addresses.json"), keys)
    return 0 if report(gas, cold, console) else figures.MISSED


if __name__ == "__main__":
    sys.exit(main())

"""Checking that a transaction paid for a service: the provider's order verification."""

import time
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.hexadecimal import is_hex
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound

from c2d.chain.artifacts import load_artifact
from c2d.chain.errors import (
    InvalidTxHash,
    OrderAmbiguous,
    OrderEventMissing,
    OrderExpired,
    OrderNotConfirmed,
    OrderNotFound,
    OrderTxFailed,
    OrderUnderpaid,
    OrderWrongConsumer,
    OrderWrongDatatoken,
    OrderWrongService,
)

# Mirrors DataToken.COMMUNITY_FEE_BPS (0.1 % of every order goes to the community).
COMMUNITY_FEE_BPS = 10
_BPS = 10_000


@dataclass(frozen=True)
class VerifiedOrder:
    """An OrderStarted event that passed every check asked for."""

    tx_hash: str
    datatoken: ChecksumAddress
    consumer: ChecksumAddress
    payer: ChecksumAddress
    amount: int
    net_amount: int  # what the publisher received: amount less community and market fees
    market_fee: int
    fee_collector: ChecksumAddress
    service_id: int
    timestamp: int
    block_number: int
    block_hash: str = ""  # the block it was in when verified: a reorganised chain has another there


def community_fee(amount: int) -> int:
    return amount * COMMUNITY_FEE_BPS // _BPS


def order_amount(cost: int, market_fee_bps: int = 0) -> int:
    """The smallest order amount that leaves the publisher `cost` after the community fee and
    a market fee of `market_fee_bps`."""
    amount = -(-cost * _BPS // (_BPS - COMMUNITY_FEE_BPS - market_fee_bps))
    while amount > 0 and _net(amount - 1, market_fee_bps) >= cost:
        amount -= 1
    while _net(amount, market_fee_bps) < cost:
        amount += 1
    return amount


def _net(amount: int, market_fee_bps: int) -> int:
    return amount - community_fee(amount) - amount * market_fee_bps // _BPS


def _order_started_topic() -> HexBytes:
    abi = next(e for e in load_artifact("DataToken").abi if e.get("type") == "event" and e["name"] == "OrderStarted")
    signature = "OrderStarted(" + ",".join(i["type"] for i in abi["inputs"]) + ")"
    return HexBytes(Web3.keccak(text=signature))


def normalize_tx_hash(tx_hash: str) -> str:
    if not isinstance(tx_hash, str) or not is_hex(tx_hash) or len(tx_hash.removeprefix("0x")) != 64:
        raise InvalidTxHash("a transaction hash is 32 bytes of hex")
    return "0x" + tx_hash.removeprefix("0x").lower()


def verify_order(
    w3: Web3,
    tx_hash: str,
    *,
    datatoken: str,
    service_id: int | None = None,
    consumer: str | None = None,
    min_net_amount: int = 0,
    timeout: int = 0,
    confirmations: int = 0,
    now: float | None = None,
) -> VerifiedOrder:
    """Checks the order transaction `tx_hash` and returns its order, or raises an OrderError.

    The transaction must have succeeded with at least `confirmations` blocks on top, and have
    emitted exactly one OrderStarted from `datatoken`, for `service_id`, with `consumer` as
    its consumer or payer, leaving the publisher at least `min_net_amount` after fees, and no
    older than `timeout` seconds (0: no expiry) at `now` (default: the current time).
    """
    tx_hash = normalize_tx_hash(tx_hash)
    token = to_checksum_address(datatoken)
    try:
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        raise OrderNotFound(f"no mined transaction {tx_hash}") from None
    if receipt["status"] != 1:
        raise OrderTxFailed(f"transaction {tx_hash} failed")
    if confirmations:
        depth = w3.eth.block_number - receipt["blockNumber"] + 1
        if depth < confirmations:
            raise OrderNotConfirmed(f"order has {depth} of {confirmations} confirmations")

    topic = _order_started_topic()
    order_logs = [log for log in receipt["logs"] if log["topics"] and HexBytes(log["topics"][0]) == topic]
    if not order_logs:
        raise OrderEventMissing(f"transaction {tx_hash} started no order")
    ours = [log for log in order_logs if to_checksum_address(log["address"]) == token]
    if not ours:
        raise OrderWrongDatatoken(f"transaction {tx_hash} ordered another datatoken, not {token}")
    if len(ours) > 1:
        raise OrderAmbiguous(f"transaction {tx_hash} started {len(ours)} orders of {token}")

    event = w3.eth.contract(abi=load_artifact("DataToken").abi).events.OrderStarted().process_log(ours[0])
    args = event["args"]
    order = VerifiedOrder(
        tx_hash=tx_hash,
        datatoken=token,
        consumer=to_checksum_address(args["consumer"]),
        payer=to_checksum_address(args["payer"]),
        amount=args["amount"],
        net_amount=args["amount"] - community_fee(args["amount"]) - args["marketFee"],
        market_fee=args["marketFee"],
        fee_collector=to_checksum_address(args["feeCollector"]),
        service_id=args["serviceId"],
        timestamp=args["timestamp"],
        block_number=receipt["blockNumber"],
        block_hash=HexBytes(receipt["blockHash"]).to_0x_hex(),
    )
    check_order(
        order,
        service_id=service_id,
        consumer=consumer,
        min_net_amount=min_net_amount,
        timeout=timeout,
        now=now,
    )
    return order


def still_on_chain(w3: Web3, order: VerifiedOrder) -> bool:
    """Whether the block the order was verified in is still the chain's block at that height
    (False after a reorganisation replaced it, or for an order verified without its hash)."""
    try:
        block = w3.eth.get_block(order.block_number)
    except BlockNotFound:  # the chain is shorter now
        return False
    return bool(order.block_hash) and HexBytes(block["hash"]).to_0x_hex() == order.block_hash.lower()


def check_order(
    order: VerifiedOrder,
    *,
    service_id: int | None = None,
    consumer: str | None = None,
    min_net_amount: int = 0,
    timeout: int = 0,
    now: float | None = None,
) -> None:
    """The checks of verify_order that need no chain: for an order verified before."""
    if service_id is not None and order.service_id != service_id:
        raise OrderWrongService(f"order is for service {order.service_id}, not {service_id}")
    if consumer is not None and to_checksum_address(consumer) not in (order.consumer, order.payer):
        raise OrderWrongConsumer("order was neither for nor paid by this consumer")
    if order.net_amount < min_net_amount:
        raise OrderUnderpaid(f"order pays {order.net_amount} after fees, the service costs {min_net_amount}")
    if timeout and (time.time() if now is None else now) > order.timestamp + timeout:
        raise OrderExpired(f"order expired {timeout} s after it started")

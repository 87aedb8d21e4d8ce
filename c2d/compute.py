"""The consumer's compute flow in a few calls: get datatokens, order, start a job, follow it,
fetch its results (what ocean.py's compute flow does, against c2d's provider)."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from c2d.assets import ACCESS_SERVICE_ID, COMPUTE_SERVICE_ID
from c2d.chain import ChainClient, datatoken_for
from c2d.client import ProviderClient
from c2d.job import FINAL

FINAL_STATUSES = frozenset(int(status) for status in FINAL)


@dataclass
class Consumer:
    chain: ChainClient
    provider: ProviderClient

    def buy(self, did: str, amount: int) -> None:
        """Buys `amount` datatokens of `did` on the fixed-rate exchange its publisher listed."""
        token = datatoken_for(did)
        minter = self.chain.chain.datatoken(token).functions.minter().call()
        exchange = self.chain.chain.exchange
        exchange_id = exchange.functions.exchangeId(self.chain.chain.base_token.address, token, minter).call()
        self.chain.buy(exchange_id, amount)

    def order(self, did: str, service_id: int) -> str:
        """Starts an order of service `service_id` of `did` for what the provider says it costs."""
        init = self.provider.initialize(did, service_id)
        token = to_checksum_address(init["datatoken"])
        amount = int(init["amount"])
        if self.chain.datatoken_balance(token) < amount:
            raise InsufficientDatatokens(did, amount, self.chain.datatoken_balance(token))
        return self.chain.start_order(token, amount, service_id).tx_hash

    def start(
        self,
        datasets: list[str],
        algorithm_did: str | None = None,
        raw_code: str | None = None,
        container: dict[str, str] | None = None,
        environment: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Orders every dataset's compute service (and the algorithm's access service) and
        starts the job; returns its first status."""
        orders = [
            {"documentId": did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": self.order(did, COMPUTE_SERVICE_ID)}
            for did in datasets
        ]
        if algorithm_did:
            algorithm: dict[str, Any] = {
                "documentId": algorithm_did,
                "serviceId": ACCESS_SERVICE_ID,
                "transferTxId": self.order(algorithm_did, ACCESS_SERVICE_ID),
            }
        else:
            algorithm = {"meta": {"rawcode": raw_code, "container": container or DEFAULT_CONTAINER}}
        if params:
            algorithm["algocustomdata"] = params
        (job,) = self.provider.compute_start(orders[0], algorithm, orders[1:], environment)
        return job

    def wait(
        self, job_id: str, timeout: float = 600.0, on_status: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Follows a job until it reaches a final status; calls `on_status` on each change."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            (status,) = self.provider.compute_status(job_id)
            if status["status"] != last:
                last = status["status"]
                if on_status:
                    on_status(status)
            if status["status"] in FINAL_STATUSES:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still at {status['status']} after {timeout} s")
            time.sleep(0.1)

    def result(self, status: dict[str, Any], filename: str) -> bytes:
        index = next(r["index"] for r in status["results"] if r["filename"] == filename)
        return self.provider.compute_result(status["jobId"], index)


DEFAULT_CONTAINER = {"entrypoint": "python $ALGO", "image": "c2d/algorithm-python", "tag": "dev"}


class InsufficientDatatokens(Exception):
    def __init__(self, did: str, needed: int, held: int) -> None:
        super().__init__(f"ordering {did} takes {needed / 1e18:.4f} datatokens; you hold {held / 1e18:.4f}")
        self.needed = needed
        self.held = held

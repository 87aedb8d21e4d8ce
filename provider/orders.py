"""Order checks for a service, with verified orders remembered and their uses counted durably."""

import time
from collections.abc import Callable

from c2d.chain import (
    Chain,
    ChainError,
    VerifiedOrder,
    check_order,
    normalize_tx_hash,
    still_on_chain,
    verify_order,
)
from c2d.provider.ddo import PaidService
from c2d.provider.errors import PaymentRequired, ProviderError, from_chain_error
from c2d.provider.store import Asset, Store


class OrderUsedUp(PaymentRequired):
    code = "order_used_up"


class OrderChecker:
    def __init__(
        self,
        chain: Chain,
        store: Store,
        confirmations: int = 0,
        max_uses: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.store = store
        self.confirmations = confirmations
        self.max_uses = max_uses
        self.clock = clock  # what "now" is for an order's timeout
        # told each check's result: "verified" (on chain), "remembered", or the refusal's code
        self.observe: Callable[[str], None] = lambda _: None

    def check(self, tx_hash: str, asset: Asset, service: PaidService, consumer: str) -> tuple[VerifiedOrder, int]:
        """The order `tx_hash` for `service` of `asset` by (or paid by) `consumer`, and how many
        times it was used; raises a ProviderError otherwise. Looks on chain only the first time."""
        try:
            order, uses, source = self._check(tx_hash, asset, service, consumer)
        except ProviderError as exc:
            self.observe(exc.code)
            raise
        self.observe(source)
        return order, uses

    def _check(self, tx_hash: str, asset: Asset, service: PaidService, consumer: str) -> tuple[VerifiedOrder, int, str]:
        main = service.attributes.main
        try:
            tx = normalize_tx_hash(tx_hash)
            cached = self.store.cached_order(tx, asset.datatoken)
            if cached:
                order, uses = cached
                check_order(
                    order,
                    service_id=service.index,
                    consumer=consumer,
                    min_net_amount=main.cost,
                    timeout=main.timeout,
                    now=self.clock(),
                )
                if still_on_chain(self.chain.w3, order):
                    return order, uses, "remembered"
                # Its block was replaced: the order counts only if the chain has it again.
                moved = self._verify(tx, asset, service, consumer)
                self.store.move_order(moved)
                return moved, uses, "verified"
            order = self._verify(tx, asset, service, consumer)
        except ChainError as exc:
            raise from_chain_error(exc) from None
        self.store.remember_order(order)
        return order, 0, "verified"

    def _verify(self, tx: str, asset: Asset, service: PaidService, consumer: str) -> VerifiedOrder:
        main = service.attributes.main
        return verify_order(
            self.chain.w3,
            tx,
            datatoken=asset.datatoken,
            service_id=service.index,
            consumer=consumer,
            min_net_amount=main.cost,
            timeout=main.timeout,
            confirmations=self.confirmations,
            now=self.clock(),
        )

    def take(self, order: VerifiedOrder) -> None:
        """Takes one use of the order; raises OrderUsedUp when none is left."""
        if not self.store.use_order(order.tx_hash, order.datatoken, self.max_uses):
            raise OrderUsedUp(f"this order was already used {self.max_uses} time(s); start a new order")

    def give_back(self, order: VerifiedOrder) -> None:
        self.store.release_order(order.tx_hash, order.datatoken)

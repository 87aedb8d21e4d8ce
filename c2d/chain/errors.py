"""Errors of chain access. Each carries a stable `code` that HTTP layers turn into responses."""


class ChainError(Exception):
    """Base of every error c2d.chain raises."""

    code = "chain_error"


class ChainUnavailable(ChainError):
    """The RPC endpoint does not answer."""

    code = "chain_unavailable"


class ArtifactMissing(ChainError):
    """A compiled contract is not in the build directory (run `make contracts`)."""

    code = "artifact_missing"


class DeploymentMissing(ChainError):
    """addresses.json has no deployment for this chain, or lacks a contract."""

    code = "deployment_missing"


class InvalidDid(ChainError):
    """A DID that is not `did:op:` followed by a datatoken address."""

    code = "invalid_did"


class TransactionReverted(ChainError):
    """A transaction c2d sent was rejected by the chain; `reason` is the revert reason."""

    code = "transaction_reverted"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OrderError(ChainError):
    """An order transaction that does not pay for the service asked for."""

    code = "invalid_order"


class InvalidTxHash(OrderError):
    code = "invalid_tx_hash"


class OrderNotFound(OrderError):
    code = "order_not_found"


class OrderTxFailed(OrderError):
    code = "order_tx_failed"


class OrderNotConfirmed(OrderError):
    code = "order_not_confirmed"


class OrderEventMissing(OrderError):
    code = "order_event_missing"


class OrderWrongDatatoken(OrderError):
    code = "order_wrong_datatoken"


class OrderAmbiguous(OrderError):
    code = "order_ambiguous"


class OrderWrongService(OrderError):
    code = "order_wrong_service"


class OrderWrongConsumer(OrderError):
    code = "order_wrong_consumer"


class OrderUnderpaid(OrderError):
    code = "order_underpaid"


class OrderExpired(OrderError):
    code = "order_expired"

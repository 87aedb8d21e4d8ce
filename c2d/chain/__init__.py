"""c2d.chain: the contracts on an EVM chain, through web3.

The services use this package with the compiled artifacts; brownie is only used to compile,
test and deploy the contracts.
"""

from c2d.chain.artifacts import Artifact, artifacts_dir, load_artifact
from c2d.chain.client import ChainClient, Order
from c2d.chain.connection import Chain, connect
from c2d.chain.deployment import Deployment
from c2d.chain.did import datatoken_for, did_for
from c2d.chain.errors import (
    ArtifactMissing,
    ChainError,
    ChainUnavailable,
    DeploymentMissing,
    InvalidDid,
    InvalidTxHash,
    OrderAmbiguous,
    OrderError,
    OrderEventMissing,
    OrderExpired,
    OrderNotConfirmed,
    OrderNotFound,
    OrderTxFailed,
    OrderUnderpaid,
    OrderWrongConsumer,
    OrderWrongDatatoken,
    OrderWrongService,
    TransactionReverted,
)
from c2d.chain.metadata import MetadataRecord, latest_metadata, metadata_history
from c2d.chain.orders import (
    VerifiedOrder,
    check_order,
    community_fee,
    normalize_tx_hash,
    order_amount,
    still_on_chain,
    verify_order,
)
from c2d.chain.wallet import Wallet

__all__ = [
    "Artifact",
    "ArtifactMissing",
    "Chain",
    "ChainClient",
    "ChainError",
    "ChainUnavailable",
    "Deployment",
    "DeploymentMissing",
    "InvalidDid",
    "InvalidTxHash",
    "MetadataRecord",
    "Order",
    "OrderAmbiguous",
    "OrderError",
    "OrderEventMissing",
    "OrderExpired",
    "OrderNotConfirmed",
    "OrderNotFound",
    "OrderTxFailed",
    "OrderUnderpaid",
    "OrderWrongConsumer",
    "OrderWrongDatatoken",
    "OrderWrongService",
    "TransactionReverted",
    "VerifiedOrder",
    "Wallet",
    "artifacts_dir",
    "check_order",
    "community_fee",
    "connect",
    "datatoken_for",
    "did_for",
    "latest_metadata",
    "load_artifact",
    "metadata_history",
    "normalize_tx_hash",
    "order_amount",
    "still_on_chain",
    "verify_order",
]

"""Sending transactions signed with a local private key."""

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxParams, TxReceipt

from c2d.chain.errors import TransactionReverted


class Wallet:
    """An account that signs locally and sends raw transactions; the key never leaves it."""

    def __init__(self, w3: Web3, private_key: str, receipt_timeout: float = 60.0) -> None:
        self.w3 = w3
        self._account: LocalAccount = Account.from_key(private_key)
        self.receipt_timeout = receipt_timeout

    def __repr__(self) -> str:
        return f"Wallet({self.address})"

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    def send(self, call: ContractFunction | ContractConstructor, gas: int | None = None) -> TxReceipt:
        """Signs and sends `call`, waits for its receipt; raises TransactionReverted when the
        chain rejects it. With `gas` given, no estimate is made, so a reverting call is mined
        (and its receipt, with status 0, returned)."""
        params: TxParams = {
            "from": self.address,
            "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
        }
        if gas is not None:
            params["gas"] = gas
        try:
            tx = call.build_transaction(params)
        except ContractLogicError as exc:
            raise TransactionReverted(_reason(exc)) from None
        signed = self._account.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        if receipt["status"] != 1 and gas is None:
            raise TransactionReverted(f"transaction {tx_hash.hex()} failed")
        return receipt


def _reason(exc: ContractLogicError) -> str:
    message = str(exc.message or exc)
    return message.removeprefix("execution reverted: ").removeprefix("execution reverted") or "reverted"

"""Wallets: a user's own keys, kept as standard encrypted JSON keystores (Web3 Secret Storage,
version 3, scrypt), one file per wallet under <c2d home>/wallets (directory 700, files 600).

A keystore is useless without its password, which is never stored: it comes from a prompt, a
file or an environment variable each time a key is needed. Nothing here prints, logs or puts a
key or a password in an error message."""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_typing import HexStr
from eth_utils.address import to_checksum_address

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_KEYSTORE_BYTES = 64 << 10
# scrypt at geth's "light" cost would take 0.1 s; the standard cost (n = 2**18) about a second
# and 256 MiB here. Keystores are written at the standard cost and read at whatever they declare.
SCRYPT_N = 1 << 18


class WalletError(Exception):
    """A wallet cannot be made, found or opened (the message never holds a key or a password)."""


def home() -> Path:
    """c2d's folder of profiles and wallets: C2D_HOME, else ~/.c2d."""
    return Path(os.environ.get("C2D_HOME") or Path.home() / ".c2d")


@dataclass(frozen=True)
class WalletInfo:
    name: str
    address: str


class Wallets:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or home()) / "wallets"

    def _path(self, name: str) -> Path:
        if not NAME.fullmatch(name):
            raise WalletError(f"{name!r} is not a wallet name (letters, digits, '.', '_', '-'; at most 64)")
        return self.root / f"{name}.json"

    def new(self, name: str, password: str) -> WalletInfo:
        """A fresh random key in a new keystore."""
        return self._store(name, Account.create().key.hex(), password)

    def import_key(self, name: str, private_key: str, password: str) -> WalletInfo:
        """A keystore of a key the user already has (hex, with or without 0x)."""
        return self._store(name, parse_key(private_key), password)

    def import_keystore(self, name: str, source: Path, password: str) -> WalletInfo:
        """A copy of an existing V3 keystore, once `password` has been shown to open it."""
        keystore = read_keystore(source)
        _decrypt(keystore, password)  # a keystore that cannot be opened is not kept
        return self._write(name, keystore)

    def list(self) -> list[WalletInfo]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append(WalletInfo(path.stem, _address_of(read_keystore(path))))
            except WalletError:
                continue
        return found

    def address(self, name: str) -> str:
        return _address_of(self._read(name))

    def unlock(self, name: str, password: str) -> str:
        """The wallet's private key (hex): only to sign with, never to show."""
        return _decrypt(self._read(name), password)

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        if not path.exists():
            raise WalletError(f"no wallet named {name} (c2d wallet list)")
        return read_keystore(path)

    def _store(self, name: str, private_key: str, password: str) -> WalletInfo:
        if not password:
            raise WalletError("a wallet needs a password")
        keystore = Account.encrypt(HexStr(private_key), password, kdf="scrypt", iterations=SCRYPT_N)
        return self._write(name, dict(keystore))

    def _write(self, name: str, keystore: dict[str, Any]) -> WalletInfo:
        path = self._path(name)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise WalletError(f"a wallet named {name} exists already") from None
        with os.fdopen(fd, "w") as out:
            json.dump(keystore, out)
        return WalletInfo(name, _address_of(keystore))


def parse_key(text: str) -> str:
    """A private key given as hex: checked, in the form eth-account takes. The error says what
    is wrong, never what was given."""
    value = text.strip().removeprefix("0x").removeprefix("0X")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise WalletError("a private key is 64 hexadecimal digits (with or without 0x)")
    try:
        Account.from_key(value)
    except (ValueError, TypeError):
        raise WalletError("that is not a valid secp256k1 private key") from None
    return "0x" + value.lower()


def read_keystore(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_KEYSTORE_BYTES + 1)
    except OSError as exc:
        raise WalletError(f"{path.name} cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_KEYSTORE_BYTES:
        raise WalletError(f"{path.name} is larger than a keystore")
    try:
        keystore = json.loads(raw)
    except ValueError:
        raise WalletError(f"{path.name} is not a JSON keystore") from None
    if not isinstance(keystore, dict) or keystore.get("version") != 3 or not isinstance(keystore.get("crypto"), dict):
        raise WalletError(f"{path.name} is not a version 3 keystore")
    return keystore


def _address_of(keystore: dict[str, Any]) -> str:
    try:
        return to_checksum_address("0x" + str(keystore["address"]).removeprefix("0x"))
    except (KeyError, ValueError):
        raise WalletError("the keystore names no address") from None


def _decrypt(keystore: dict[str, Any], password: str) -> str:
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WalletError("wrong password for this wallet") from None
        raise WalletError("the keystore cannot be opened (unsupported or damaged)") from None
    except (KeyError, TypeError):
        raise WalletError("the keystore cannot be opened (unsupported or damaged)") from None
    address = Account.from_key(key).address
    if "address" in keystore and _address_of(keystore) != address:
        raise WalletError("the keystore's address is not its key's")
    return "0x" + bytes(key).hex()

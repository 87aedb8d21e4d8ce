"""ECIES (secp256k1) encryption of an asset's file list to the provider's key.

The plaintext binds the file list to its DID, so a ciphertext copied into another asset's DDO
does not decrypt there."""

import json
from typing import Any

import ecies
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import ChecksumAddress
from pydantic import BaseModel, Field, ValidationError

from c2d.provider.errors import InvalidRequest

SCHEMES = ("http", "https", "file")


class FileSpec(BaseModel):
    """One file of an asset as the publisher gave it: only ever seen inside the provider."""

    index: int = Field(ge=0)
    url: str = Field(min_length=1, max_length=4096)
    contentType: str | None = None

    def __repr__(self) -> str:  # never show the URL, even in a traceback
        return f"FileSpec(index={self.index})"

    __str__ = __repr__


class EncryptedFilesInvalid(InvalidRequest):
    code = "encrypted_files_invalid"


class ProviderKey:
    def __init__(self, private_key: str) -> None:
        self.private_key = private_key
        self.address: ChecksumAddress = Account.from_key(private_key).address
        self.public_key_hex = PrivateKey(bytes.fromhex(private_key.removeprefix("0x"))).public_key.to_hex()

    def __repr__(self) -> str:
        return f"ProviderKey({self.address})"

    def encrypt_files(self, did: str, files: list[FileSpec]) -> str:
        payload = json.dumps({"did": did, "files": [f.model_dump(exclude_none=True) for f in files]})
        return "0x" + ecies.encrypt(self.public_key_hex, payload.encode()).hex()

    def decrypt_files(self, did: str, blob: str) -> list[FileSpec]:
        try:
            plain = ecies.decrypt(self.private_key.removeprefix("0x"), bytes.fromhex(blob.removeprefix("0x")))
            data: dict[str, Any] = json.loads(plain)
            if data.get("did") != did:
                raise EncryptedFilesInvalid("the encrypted files belong to another asset")
            return [FileSpec.model_validate(f) for f in data["files"]]
        except EncryptedFilesInvalid:
            raise
        except (ValueError, KeyError, TypeError, ValidationError):
            raise EncryptedFilesInvalid("the asset's encrypted files cannot be read by this provider") from None

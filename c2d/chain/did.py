"""Asset identifiers: `did:op:` followed by the datatoken's checksummed address without 0x."""

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

from c2d.chain.errors import InvalidDid

PREFIX = "did:op:"


def did_for(datatoken: str) -> str:
    return PREFIX + to_checksum_address(datatoken)[2:]


def datatoken_for(did: str) -> ChecksumAddress:
    if not isinstance(did, str) or not did.startswith(PREFIX):
        raise InvalidDid(f"a DID starts with {PREFIX}")
    body = did[len(PREFIX) :]
    if len(body) != 40 or not is_address("0x" + body):
        raise InvalidDid("a DID is did:op: followed by 40 hex digits of a datatoken address")
    return to_checksum_address("0x" + body)

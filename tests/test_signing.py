"""c2d's own EIP-191 signing against eth_account's, the reference implementation."""

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from c2d.signing import InvalidSignature, address_of, recover, sign

KEY = "0x" + "4c" * 32


@pytest.mark.parametrize("text", ["", "did:op:12abc", "0xabc" + "x" * 200, "ünïcødé ✓"])
def test_signatures_match_eth_account(text):
    reference = Account.sign_message(encode_defunct(text=text), private_key=KEY).signature
    assert sign(KEY, text) == "0x" + bytes(reference).hex()
    assert recover(text, sign(KEY, text)) == Account.from_key(KEY).address == address_of(KEY)


def test_recover_gives_another_address_for_another_text():
    assert recover("other", sign(KEY, "text")) != address_of(KEY)


@pytest.mark.parametrize("bad", ["0x" + "00" * 65, "0x" + "ff" * 65, "0x12", "zz", "0x" + "11" * 64 + "1d"])
def test_malformed_signatures_raise(bad):
    with pytest.raises(InvalidSignature):
        recover("text", bad)

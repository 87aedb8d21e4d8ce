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


PROVIDER = "0x" + "ab" * 20


def _request(**changes):
    from c2d.signing import SignedRequest, params_hash

    values = {
        "action": "computeStart",
        "consumer": Account.from_key(KEY).address,
        "nonce": 1_700_000_000_000,
        "expiry": 1_700_000_300,
        "params": params_hash({"algorithm": {"meta": {"rawcode": "print(1) ✓"}}, "dataset": {"x": 1}, "nonce": 5}),
        "document_id": "did:op:" + "12" * 20,
        "job_id": "",
        "index": 0,
    }
    return SignedRequest(**{**values, **changes})


@pytest.mark.parametrize("chain_id", [1337, 137])
def test_typed_data_signatures_match_eth_account(chain_id):
    from eth_account.messages import encode_typed_data

    from c2d.signing import recover_request, sign_request, typed_data

    request = _request()
    reference = Account.sign_message(encode_typed_data(full_message=typed_data(chain_id, PROVIDER, request)), KEY)
    assert sign_request(KEY, chain_id, PROVIDER, request) == "0x" + bytes(reference.signature).hex()
    assert recover_request(chain_id, PROVIDER, request, sign_request(KEY, chain_id, PROVIDER, request)) == (
        Account.from_key(KEY).address
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "computeDelete"},
        {"job_id": "another"},
        {"document_id": "did:op:" + "34" * 20},
        {"index": 1},
        {"nonce": 1_700_000_000_001},
        {"expiry": 1_700_000_301},
    ],
)
def test_a_signature_authorises_only_what_it_names(changes):
    from c2d.signing import recover_request, sign_request

    signature = sign_request(KEY, 1337, PROVIDER, _request())
    assert recover_request(1337, PROVIDER, _request(**changes), signature) != Account.from_key(KEY).address
    assert recover_request(1338, PROVIDER, _request(), signature) != Account.from_key(KEY).address
    assert recover_request(1337, "0x" + "cd" * 20, _request(), signature) != Account.from_key(KEY).address


def test_params_hash_is_canonical_and_leaves_out_the_signature_fields():
    from c2d.signing import canonical_json, params_hash

    assert canonical_json({"b": [1, "é"], "a": {"d": None, "c": True}}) == '{"a":{"c":true,"d":null},"b":[1,"é"]}'
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1, "nonce": 9, "signature": "0x", "expiry": 3})
    assert params_hash({"a": 1}) != params_hash({"a": "1"})


@pytest.mark.parametrize("odd", [1.5, float("nan"), float("inf"), {"a": [{"b": 2.0}]}])
def test_numbers_no_signature_can_cover_are_refused(odd):
    from c2d.signing import params_hash

    with pytest.raises(ValueError):
        params_hash({"x": odd})

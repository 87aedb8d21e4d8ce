import brownie


def test_minter_creates_and_updates_metadata(metadata, datatoken, publisher):
    ddo = b'{"id": "did:op:x", "service": []}'
    tx = metadata.create(datatoken, b"\x00", ddo, {"from": publisher})
    assert dict(tx.events["MetadataCreated"]) == {
        "dataToken": datatoken,
        "createdBy": publisher,
        "flags": "0x00",
        "data": "0x" + ddo.hex(),
    }
    tx = metadata.update(datatoken, b"\x01", b"{}", {"from": publisher})
    assert dict(tx.events["MetadataUpdated"]) == {
        "dataToken": datatoken,
        "updatedBy": publisher,
        "flags": "0x01",
        "data": "0x7b7d",
    }


def test_metadata_by_a_non_minter_is_rejected(metadata, datatoken, stranger):
    with brownie.reverts("Metadata: caller is not the datatoken minter"):
        metadata.create(datatoken, b"", b"{}", {"from": stranger})
    with brownie.reverts("Metadata: caller is not the datatoken minter"):
        metadata.update(datatoken, b"", b"{}", {"from": stranger})


def test_metadata_by_an_extra_minter_is_rejected(metadata, datatoken, publisher, stranger):
    # Only the publisher (the token's minter) speaks for the asset, not a dispenser-like minter.
    datatoken.setMinterRole(stranger, True, {"from": publisher})
    with brownie.reverts("Metadata: caller is not the datatoken minter"):
        metadata.create(datatoken, b"", b"{}", {"from": stranger})


def test_metadata_for_an_address_that_is_not_a_datatoken_is_rejected(metadata, publisher, stranger):
    with brownie.reverts():
        metadata.create(stranger, b"", b"{}", {"from": publisher})


def test_metadata_for_a_lookalike_token_is_rejected(metadata, DataToken, community, stranger):
    """Any contract answering minter() was accepted: a token made outside the factory lets
    anyone publish a DDO under an address that is no datatoken of c2d's."""
    lookalike = DataToken.deploy(community, "Fake", "FAKE", stranger, 10**24, {"from": stranger})
    assert lookalike.minter() == stranger
    with brownie.reverts("Metadata: not a datatoken of the factory"):
        metadata.create(lookalike, b"", b"{}", {"from": stranger})
    with brownie.reverts("Metadata: not a datatoken of the factory"):
        metadata.update(lookalike, b"", b"{}", {"from": stranger})

"""Encryption of file lists, file info, and the DDO index."""

import json
import logging

import httpx
import pytest

from c2d.assets import ACCESS_SERVICE_ID, PublishedFile, Services, build_ddo, publish
from c2d.chain import did_for, order_amount
from c2d.client import ProviderRequestError
from c2d.provider.catalog import Catalog
from c2d.provider.crypto import FileSpec, ProviderKey
from c2d.provider.files import FileNotAllowed, check_url
from c2d.provider.store import Store

ONE = 10**18


def rejected(call, status, code):
    with pytest.raises(ProviderRequestError) as info:
        call()
    assert (info.value.status, info.value.code) == (status, code), info.value.message
    return info.value


@pytest.fixture
def token(publisher):
    return publisher.create_datatoken("Fresh", "FR", 100 * ONE)


def test_encrypted_files_decrypt_only_inside_the_provider(publisher_api, token, provider_key, data_root):
    url = (data_root / "weather.csv").as_uri()
    blob = publisher_api.encrypt(did_for(token), [{"index": 0, "url": url}])
    assert url not in blob and "weather" not in blob
    assert ProviderKey(provider_key).decrypt_files(did_for(token), blob)[0].url == url


def test_only_the_datatoken_minter_may_encrypt(stranger_api, token, data_root):
    files = [{"index": 0, "url": (data_root / "weather.csv").as_uri()}]
    rejected(lambda: stranger_api.encrypt(did_for(token), files), 403, "not_publisher")


def test_encrypt_for_an_address_without_a_datatoken_is_rejected(publisher_api, data_root):
    files = [{"index": 0, "url": (data_root / "weather.csv").as_uri()}]
    rejected(lambda: publisher_api.encrypt("did:op:" + "12" * 20, files), 404, "unknown_datatoken")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "gopher://127.0.0.1/", "data:text/plain,hi", "javascript:alert(1)"]
)
def test_url_scheme_not_allowed(publisher_api, token, url):
    error = rejected(
        lambda: publisher_api.encrypt(did_for(token), [{"index": 0, "url": url}]),
        400,
        "url_scheme_not_allowed",
    )
    assert url not in error.message


def test_path_traversal_out_of_the_data_root_is_rejected(publisher_api, token, data_root, outside):
    sneaky = data_root.as_uri() + "/../" + outside.name + "/secret.txt"
    error = rejected(
        lambda: publisher_api.encrypt(did_for(token), [{"index": 0, "url": sneaky}]), 403, "file_not_allowed"
    )
    assert "secret" not in error.message
    rejected(
        lambda: publisher_api.encrypt(did_for(token), [{"index": 0, "url": (outside / "secret.txt").as_uri()}]),
        403,
        "file_not_allowed",
    )


def test_symlink_out_of_the_data_root_is_not_served(
    publisher, publisher_api, consumer, consumer_api, data_root, outside
):
    link = data_root / "innocent-link.txt"
    asset = publish(publisher, publisher_api, "Linked", [PublishedFile(link.as_uri())], Services(access_cost=ONE))
    link.symlink_to(outside / "secret.txt")  # placed after publication
    publisher.wallet.send(publisher.chain.datatoken(asset.datatoken).functions.transfer(consumer.address, 10 * ONE))
    tx = consumer.start_order(asset.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
    rejected(lambda: consumer_api.download(asset.did, ACCESS_SERVICE_ID, 0, tx), 403, "file_not_allowed")


def test_encrypted_files_copied_into_another_asset_do_not_decrypt(
    publisher, publisher_api, stranger, consumer_api, consumer, dataset
):
    """A stranger copies the dataset's encryptedFiles into a DDO of its own token."""
    copy_token = stranger.create_datatoken("Copy", "CP", 100 * ONE)
    stranger.mint(copy_token, consumer.address, 10 * ONE)
    blob = dataset.ddo["service"][0]["attributes"]["encryptedFiles"]
    files = [PublishedFile("file:///x")]
    ddo = build_ddo(did_for(copy_token), "Copy", "dataset", files, blob, Services(access_cost=ONE), stranger.address)
    stranger.publish_metadata(copy_token, ddo)
    tx = consumer.start_order(copy_token, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
    rejected(
        lambda: consumer_api.download(did_for(copy_token), ACCESS_SERVICE_ID, 0, tx),
        400,
        "encrypted_files_invalid",
    )


def test_fileinfo_gives_sizes_and_types_but_no_urls(consumer_api, dataset, data_root, provider_server):
    response = httpx.post(provider_server.url + "/api/services/fileinfo", json={"did": dataset.did})
    assert response.status_code == 200
    assert response.json() == [
        {
            "index": 0,
            "contentType": "text/csv",
            "contentLength": (data_root / "weather.csv").stat().st_size,
            "valid": True,
        },
        {
            "index": 1,
            "contentType": "application/octet-stream",
            "contentLength": (data_root / "blob.bin").stat().st_size,
            "valid": True,
        },
    ]
    assert "file:" not in response.text and str(data_root) not in response.text


def test_fileinfo_marks_an_unreachable_file_invalid(publisher, publisher_api, file_server):
    asset = publish(
        publisher,
        publisher_api,
        "Gone",
        [PublishedFile(file_server.url + "/missing.csv")],
        Services(access_cost=ONE),
    )
    assert publisher_api.fileinfo(asset.did) == [
        {"index": 0, "contentType": "application/octet-stream", "contentLength": None, "valid": False}
    ]


def test_ddo_that_is_not_valid_json_is_skipped_with_a_logged_reason(chain, publisher, addresses_file, tmp_path, caplog):
    broken = publisher.create_datatoken("Broken", "BRK", ONE)
    invalid = publisher.create_datatoken("Invalid", "INV", ONE)
    publisher.wallet.send(chain.metadata.functions.create(broken, b"\x00", b"{not json"))
    publisher.wallet.send(chain.metadata.functions.create(invalid, b"\x00", json.dumps({"service": "none"}).encode()))
    store = Store(f"sqlite:///{tmp_path / 'index.db'}")
    with caplog.at_level(logging.WARNING, logger="c2d.provider.catalog"):
        Catalog(chain, store).sync()
    assert store.asset(did_for(broken)) is None and store.asset(did_for(invalid)) is None
    reasons = [r.getMessage() for r in caplog.records]
    assert f"skipping DDO created {did_for(broken)} at block" in "\n".join(reasons)
    assert any(did_for(broken) in r and "not valid JSON" in r for r in reasons)
    assert any(did_for(invalid) in r and "invalid at service" in r for r in reasons)


def test_invalid_update_keeps_the_last_valid_ddo(chain, publisher, tmp_path):
    token = publisher.create_datatoken("Upd", "UPD", ONE)
    ddo = build_ddo(did_for(token), "v1", "dataset", [], "", Services(access_cost=ONE), publisher.address)
    publisher.publish_metadata(token, ddo)
    publisher.wallet.send(chain.metadata.functions.update(token, b"\x00", b"\xff\xfe"))
    store = Store(f"sqlite:///{tmp_path / 'index.db'}")
    Catalog(chain, store).sync()
    assert store.asset(did_for(token)).ddo["service"][0]["attributes"]["main"]["name"] == "v1"


def test_index_continues_from_its_cursor_after_a_restart(chain, publisher, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'index.db'}")
    first = Catalog(chain, store).sync()
    assert first > 0
    cursor = store.index_cursor()
    assert cursor == chain.w3.eth.block_number
    token = publisher.create_datatoken("Later", "LTR", ONE)
    publisher.publish_metadata(
        token, build_ddo(did_for(token), "later", "dataset", [], "", Services(), publisher.address)
    )
    store.close()
    reopened = Store(f"sqlite:///{tmp_path / 'index.db'}")
    assert Catalog(chain, reopened).sync() == 1  # only the new DDO is read, not everything again
    assert reopened.asset(did_for(token)) is not None


def test_file_spec_never_shows_its_url():
    spec = FileSpec(index=3, url="https://127.0.0.1/private/path.csv")
    assert "private" not in repr(spec) and "private" not in str(spec)


def test_a_publisher_cannot_publish_another_publishers_file(
    stranger, stranger_api, consumer, consumer_api, data_root, provider_key
):
    token = stranger.create_datatoken("Thief", "THF", 100 * ONE)
    victim_file = [{"index": 0, "url": (data_root / "weather.csv").as_uri()}]
    rejected(lambda: stranger_api.encrypt(did_for(token), victim_file), 403, "file_not_allowed")
    # A ciphertext made offline with the provider's public key does not help either.
    blob = ProviderKey(provider_key).encrypt_files(did_for(token), [FileSpec(index=0, url=victim_file[0]["url"])])
    ddo = build_ddo(did_for(token), "Thief", "dataset", [], blob, Services(access_cost=ONE), stranger.address)
    stranger.publish_metadata(token, ddo)
    stranger.mint(token, consumer.address, 10 * ONE)
    tx = consumer.start_order(token, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
    rejected(lambda: consumer_api.download(did_for(token), ACCESS_SERVICE_ID, 0, tx), 403, "file_not_allowed")


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("http://[::1/x", 400, "url_invalid"),
        ("http://127.0.0.1:99999/x", 400, "url_invalid"),
        ("file:///data/%00/x", 403, "file_not_allowed"),  # a well-formed URL, outside the publisher's folder
    ],
)
def test_malformed_urls_are_refused_with_400s(publisher_api, token, url, status, code):
    with pytest.raises(ProviderRequestError) as info:
        publisher_api.encrypt(did_for(token), [{"index": 0, "url": url}])
    assert (info.value.status, info.value.code) == (status, code), info.value


def test_hosts_the_provider_must_not_reach_are_refused(data_root):
    # refused without C2D_ALLOW_PRIVATE_URLS; the metadata address is refused in every case
    private = ["http://127.0.0.1/x", "http://[::1]/x", "http://10.1.2.3/x", "http://192.168.1.1/x"]  # rejected
    always = ["http://169.254.169.254/latest", "http://[::ffff:169.254.169.254]/", "http://0.0.0.0/"]  # rejected
    for url in private + always:
        with pytest.raises(FileNotAllowed):
            check_url(url, data_root, allow_private=False)
    for url in always:
        with pytest.raises(FileNotAllowed):
            check_url(url, data_root, allow_private=True)
    check_url("http://127.0.0.1/x", data_root, allow_private=True)
    check_url("https://data.example/x.csv", data_root, allow_private=False)

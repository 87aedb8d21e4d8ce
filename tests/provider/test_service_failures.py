"""Start-up settings, an unreachable chain, and a provider on PostgreSQL."""

import os

import httpx
import pytest

from c2d.assets import ACCESS_SERVICE_ID
from c2d.chain import order_amount
from c2d.client import ProviderClient
from c2d.localchain import free_port
from c2d.provider import SettingsError, load_settings
from postgres import postgres_server
from servers import ProviderServer, make_settings

ONE = 10**18


def test_missing_and_invalid_settings_are_named_without_their_values(monkeypatch, tmp_path):
    for name in ("C2D_RPC_URL", "C2D_CHAIN_ID", "C2D_PROVIDER_KEY", "C2D_OPERATOR_URL", "C2D_DATA_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("C2D_PROVIDER_KEY", "0xnot-a-key-but-secret")
    monkeypatch.setenv("C2D_ADDRESSES_FILE", str(tmp_path / "missing.json"))
    monkeypatch.setenv("C2D_RPC_URL", "ftp://127.0.0.1")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    for expected in (
        "C2D_RPC_URL: must be an http:// or https:// URL",
        "C2D_CHAIN_ID: Field required",
        "C2D_PROVIDER_KEY: must be a 32-byte hex private key",
        "C2D_ADDRESSES_FILE: no such file",
        "C2D_OPERATOR_URL: Field required",
        "C2D_DATA_ROOT: Field required",
    ):
        assert expected in message
    assert "not-a-key-but-secret" not in message


def test_key_files_and_the_default_confirmations(monkeypatch, tmp_path, addresses_file, provider_root, provider_key):
    for name in ("C2D_PROVIDER_KEY", "C2D_ORDER_CONFIRMATIONS"):
        monkeypatch.delenv(name, raising=False)
    key_file = tmp_path / "provider.key"
    key_file.write_text(provider_key + "\n")
    key_file.chmod(0o644)
    base = {
        "rpc_url": "http://127.0.0.1:8545",
        "chain_id": 1337,
        "addresses_file": addresses_file,
        "operator_url": "http://127.0.0.1:8031",
        "data_root": provider_root,
        "provider_key_file": key_file,
    }
    with pytest.raises(SettingsError) as info:
        load_settings(**base)
    assert "readable by its owner only" in str(info.value) and provider_key[2:] not in str(info.value)
    for mode in (0o444, 0o460, 0o640):  # others, a writing group, a group of the owner's
        key_file.chmod(mode)
        if mode == 0o640 and os.geteuid() == 0:
            continue  # root's and root's group: the Secret volume's shape below
        with pytest.raises(SettingsError, match="readable by its owner only"):
            load_settings(**base)
    # A Kubernetes Secret's volume: root's, readable by the pod's group (its fsGroup) only.
    key_file.chmod(0o440)
    if os.geteuid() == 0:
        os.chown(key_file, 0, os.getegid())
        assert load_settings(**base).provider_key.get_secret_value() == provider_key
    else:  # the file is this user's own: its group's reading is refused
        with pytest.raises(SettingsError, match="readable by its owner only"):
            load_settings(**base)
    key_file.chmod(0o600)
    settings = load_settings(**base)
    assert settings.provider_key.get_secret_value() == provider_key
    assert settings.confirmations() == 0  # Ganache
    assert load_settings(**{**base, "chain_id": 137}).confirmations() == 12
    assert load_settings(**{**base, "chain_id": 137, "order_confirmations": 2}).confirmations() == 2


def test_an_older_database_gets_the_new_columns(tmp_path):
    from sqlalchemy import create_engine, text

    from c2d.provider.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:  # the orders table as c2d 0.x made it, with one remembered order
        conn.execute(
            text(
                "CREATE TABLE orders (tx_hash VARCHAR(66), datatoken VARCHAR(42), consumer VARCHAR(42), "
                "payer VARCHAR(42), amount VARCHAR(78), net_amount VARCHAR(78), market_fee VARCHAR(78), "
                "fee_collector VARCHAR(42), service_id BIGINT, timestamp BIGINT, block_number BIGINT, "
                "uses INTEGER, PRIMARY KEY (tx_hash, datatoken))"
            )
        )
        conn.execute(text("INSERT INTO orders VALUES ('0x1', '0x2', '0x3', '0x3', '1', '1', '0', '0x4', 1, 5, 7, 1)"))
    old.dispose()
    store = Store(url)
    try:
        order, uses = store.cached_order("0x1", "0x2")
        assert (order.block_number, order.block_hash, uses) == (7, "", 1)  # no hash: looked up again when used
    finally:
        store.close()


def test_unreachable_chain_gives_503_not_500(addresses_file, provider_root, provider_key, tmp_path):
    dead = type("Dead", (), {"url": f"http://127.0.0.1:{free_port()}"})()
    settings = make_settings(dead, addresses_file, provider_root, tmp_path / "p.db", provider_key)
    server = ProviderServer(settings).start()
    try:
        response = httpx.get(
            server.url + "/api/services/initialize",
            params={"documentId": "did:op:" + "12" * 20, "serviceId": 1, "consumerAddress": "0x" + "34" * 20},
        )
        assert (response.status_code, response.json()["error"]) == (503, "chain_unavailable")
        assert (
            httpx.get(server.url + "/api/services/nonce", params={"userAddress": "0x" + "34" * 20}).status_code == 200
        )
    finally:
        server.stop()


def test_provider_on_postgresql_serves_a_download(
    ganache, addresses_file, provider_root, data_root, provider_key, dataset, consumer, keys
):
    with postgres_server() as url:
        settings = make_settings(
            ganache, addresses_file, provider_root, "unused", provider_key, provider_database_url=url
        )
        server = ProviderServer(settings).start()
        client = ProviderClient(server.url, keys[2])
        try:
            tx = consumer.start_order(dataset.datatoken, order_amount(ONE), ACCESS_SERVICE_ID).tx_hash
            assert client.download(dataset.did, ACCESS_SERVICE_ID, 0, tx) == (data_root / "weather.csv").read_bytes()
            server.restart()
            with pytest.raises(Exception, match="order_used_up"):
                client.download(dataset.did, ACCESS_SERVICE_ID, 0, tx)
        finally:
            client.close()
            server.stop()

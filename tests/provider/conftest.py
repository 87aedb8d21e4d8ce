import os

import pytest
from eth_account import Account

from c2d.assets import PublishedFile, Services, publish
from c2d.client import ProviderClient
from servers import FileServer, ProviderServer, make_settings

ONE = 10**18


@pytest.fixture(scope="session")
def provider_root(tmp_path_factory):
    """The provider's data root: one folder per publisher."""
    return tmp_path_factory.mktemp("published")


@pytest.fixture(scope="session")
def data_root(provider_root, keys):
    """The publisher's folder of the data root, with its files."""
    root = provider_root / Account.from_key(keys[1]).address.lower()
    root.mkdir()
    (root / "weather.csv").write_bytes(b"day,temp\n" + b"".join(b"%d,%d\n" % (i, i % 37) for i in range(5000)))
    (root / "blob.bin").write_bytes(os.urandom(300_000))
    (root / "algo.py").write_text("print('hello from the algorithm')\n")
    return root


@pytest.fixture(scope="session")
def outside(tmp_path_factory):
    """A directory outside the data root, with a file nobody may download."""
    other = tmp_path_factory.mktemp("private")
    (other / "secret.txt").write_text("not for consumers\n")
    return other


@pytest.fixture(scope="session")
def file_server(data_root, outside):
    redirects = {
        "/to-file": (outside / "secret.txt").as_uri(),
        "/to-weather": "/weather.csv",
        "/loop": "/loop",
    }
    with FileServer(data_root, redirects) as server:
        yield server


@pytest.fixture(scope="session")
def provider_key(keys):
    return keys[9]


@pytest.fixture(scope="session")
def provider_server(ganache, addresses_file, provider_root, data_root, provider_key, tmp_path_factory):
    db = tmp_path_factory.mktemp("provider") / "provider.db"
    server = ProviderServer(make_settings(ganache, addresses_file, provider_root, db, provider_key)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def publisher_api(provider_server, keys):
    client = ProviderClient(provider_server.url, keys[1])
    yield client
    client.close()


@pytest.fixture(scope="session")
def consumer_api(provider_server, keys):
    client = ProviderClient(provider_server.url, keys[2])
    yield client
    client.close()


@pytest.fixture(scope="session")
def stranger_api(provider_server, keys):
    client = ProviderClient(provider_server.url, keys[3])
    yield client
    client.close()


@pytest.fixture(scope="session")
def dataset(publisher, publisher_api, consumer, data_root):
    """A published dataset with a download service (1 DT) and a file:// file; the consumer holds
    100 of its datatokens."""
    published = publish(
        publisher,
        publisher_api,
        "Weather",
        [
            PublishedFile.local(data_root / "weather.csv", "text/csv"),
            PublishedFile.local(data_root / "blob.bin"),
        ],
        Services(access_cost=ONE, compute_cost=ONE),
    )
    publisher.wallet.send(
        publisher.chain.datatoken(published.datatoken).functions.transfer(consumer.address, 100 * ONE)
    )
    return published

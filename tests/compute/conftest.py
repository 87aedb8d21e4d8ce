"""A whole c2d on this machine: Ganache, the provider, the operator service and the engine (a
real process, local executor), with a publisher and a consumer."""

import pytest

from c2d.assets import Privacy, PublishedFile, Services, publish
from c2d.client import ProviderClient
from c2d.job.policy import PRESETS
from jobs import CONTAINER, ONE, give
from stacks import start_stack


@pytest.fixture(scope="session")
def stack(ganache, addresses_file, keys, tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    running = start_stack(root, root / "published", ganache, addresses_file, keys)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def publisher_api(stack, keys):
    client = ProviderClient(stack.provider.url, keys[1])
    yield client
    client.close()


@pytest.fixture(scope="session")
def consumer_api(stack, keys):
    client = ProviderClient(stack.provider.url, keys[2])
    yield client
    client.close()


@pytest.fixture(scope="session")
def make_dataset(stack, publisher, publisher_api, consumer):
    def make(*names, privacy=None, policy=None):
        """`policy`: the dataset's output policy (a dict, or a preset's name); the default's if None."""
        privacy = privacy or Privacy(allowRawAlgorithm=True, publisherTrustedAlgorithmPublishers=[publisher.address])
        files = [PublishedFile.local(stack.data_root / name, "text/plain") for name in names]
        if isinstance(policy, str):
            policy = PRESETS[policy].model_dump(mode="json")
        services = Services(compute_cost=ONE, privacy=privacy, output_policy=policy)
        published = publish(publisher, publisher_api, "Dataset", files, services)
        give(publisher, consumer, published)
        return published

    return make


@pytest.fixture(scope="session")
def make_algorithm(stack, publisher, publisher_api, consumer):
    def make(source: str):
        path = stack.data_root / f"algorithm-{abs(hash(source))}.py"
        path.write_text(source)
        published = publish(
            publisher,
            publisher_api,
            "Algorithm",
            [PublishedFile.local(path, "text/x-python")],
            Services(access_cost=ONE),
            kind="algorithm",
            container=CONTAINER,
        )
        give(publisher, consumer, published)
        return published

    return make

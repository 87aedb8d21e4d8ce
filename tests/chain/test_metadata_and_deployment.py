import json

import pytest

from c2d.chain import (
    Deployment,
    DeploymentMissing,
    InvalidDid,
    datatoken_for,
    did_for,
    latest_metadata,
    metadata_history,
)
from c2d.localchain import deploy_contracts


def test_did_is_the_checksummed_datatoken_address():
    token = "0x3c63250afa2470359482d98749f2d60d2971c818"
    did = did_for(token)
    assert did == "did:op:3c63250aFA2470359482d98749f2d60D2971c818"
    assert datatoken_for(did) == "0x3c63250aFA2470359482d98749f2d60D2971c818"
    assert datatoken_for(did.lower()) == datatoken_for(did)


@pytest.mark.parametrize("bad", ["", "did:op:", "did:op:xyz", "did:eth:" + "a" * 40, "did:op:" + "g" * 40, None])
def test_malformed_did_is_rejected(bad):
    with pytest.raises(InvalidDid):
        datatoken_for(bad)


def test_metadata_history_follows_create_and_update(chain, publisher):
    token = publisher.create_datatoken("Meta", "META", 10**18)
    other = publisher.create_datatoken("Other", "OTH", 10**18)
    publisher.publish_metadata(token, {"version": 1, "service": []})
    publisher.publish_metadata(other, {"version": "other"})
    publisher.publish_metadata(token, {"version": 2, "service": []}, update=True)

    history = metadata_history(chain, did_for(token))
    assert [r.kind for r in history] == ["created", "updated"]
    assert [json.loads(r.data)["version"] for r in history] == [1, 2]
    assert all(r.publisher == publisher.address and r.datatoken == token for r in history)
    latest = latest_metadata(chain, did_for(token))
    assert json.loads(latest.data) == {"version": 2, "service": [], "id": did_for(token)}
    assert latest_metadata(chain, did_for(publisher.create_datatoken("None", "NONE", 1))) is None


def test_deploying_again_reuses_the_contracts(ganache, addresses_file, chain):
    before = chain.w3.eth.block_number
    again = deploy_contracts(ganache.url, addresses_file)
    assert again == chain.deployment
    assert chain.w3.eth.block_number == before  # no transaction sent


def test_deployment_of_another_chain_is_missing(addresses_file, tmp_path):
    with pytest.raises(DeploymentMissing, match="no deployment for chain 5"):
        Deployment.load(addresses_file, 5)
    with pytest.raises(DeploymentMissing, match="no addresses file"):
        Deployment.load(tmp_path / "absent.json", 1337)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DeploymentMissing, match="not valid JSON"):
        Deployment.load(tmp_path / "broken.json", 1337)

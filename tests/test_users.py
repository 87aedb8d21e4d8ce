"""A new user of a c2d deployment: nothing but their own keystores and a profile naming the
provider. The deployment is an embedded stack on free ports (its own processes, chain and keys);
the users' side knows only its provider's URL: the chain id, the RPC URL and the contracts come
from the provider's `GET /`. They publish a dataset by URL (the provider fetches it from a file
server on loopback), buy, start a job, follow its log while it runs and fetch the result; a free
dataset comes from the dispenser; a trusted algorithm's checksums are taken by the CLI."""

import json
import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account

from c2d.chain import Chain, Wallet
from c2d.client import ProviderClient
from c2d.localchain import dev_keys, free_port
from c2d.wallets import Wallets
from commands import C2D, c2d, printing
from servers import FileServer

PASSWORD = "correct horse battery staple 7"
ETHER = 10**18
STEPS = 24  # half a second each: longer than the command line takes to start and unlock its wallet
FOLLOWED = printing(STEPS)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """An embedded stack standing for a deployment somewhere; its provider may fetch from
    loopback (the test's file server)."""
    data = tmp_path_factory.mktemp("deployment")
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    c2d("stack", "up", "--data-dir", str(data), *ports, env={"C2D_ALLOW_PRIVATE_URLS": "1"})
    try:
        yield json.loads((data / "stack.json").read_text())
    finally:
        c2d("stack", "down", "--data-dir", str(data))


@pytest.fixture
def user(tmp_path, deployment):
    """A user's home with two wallets of fresh keys (a publisher's and a consumer's), each
    given ether and base tokens by a development account (as a faucet would)."""
    home = tmp_path / "home"
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    env = {"C2D_HOME": str(home)}
    outputs = []

    def run(*args, check=True):
        done = c2d(*args, check=check, env=env)
        outputs.append(done.stdout + done.stderr)
        return done

    for name in ("publisher", "consumer"):
        run("wallet", "new", name, "--password-file", str(password_file))
    addresses = {w.name: w.address for w in Wallets(home).list()}
    chain = Chain.at(deployment["rpc_url"], Path(deployment["addresses_file"]))
    faucet = Wallet(chain.w3, dev_keys(8)[7])
    for address in addresses.values():
        chain.w3.eth.send_transaction({"from": chain.w3.eth.accounts[7], "to": address, "value": 10 * ETHER})
        faucet.send(chain.base_token.functions.transfer(address, 100 * ETHER))
    run("profile", "add", "there", "--provider-url", deployment["provider_url"])
    keys = {name: Wallets(home).unlock(name, PASSWORD) for name in addresses}
    return SimpleNamespace(
        run=run, outputs=outputs, password_file=password_file, addresses=addresses, keys=keys, env=env
    )


def as_user(name, password_file):
    return ["--profile", "there", "--wallet", name, "--password-file", str(password_file)]


def unpack(user):
    return user.run, user.password_file, user.keys


def test_a_new_user_publishes_by_url_buys_follows_the_log_and_fetches_the_result(tmp_path, deployment, user):
    run, password_file, keys = unpack(user)
    assert "there" in run("profile", "list").stdout
    served = tmp_path / "served"
    served.mkdir()
    (served / "numbers.csv").write_text("1\n2\n3\n")
    (tmp_path / "followed.py").write_text(FOLLOWED)
    with FileServer(served, {}) as files:
        url = f"{files.url}/numbers.csv"
        published = run(
            "publish", "dataset", "--url", url, "--content-type", "text/csv", "--allow-raw", "--output-policy", "open",
            *as_user("publisher", password_file),
        ).stdout  # fmt: skip
        assert "[0] text/csv, 6 bytes" in published, published  # the provider fetched it
        did = re.search(r"did:op:[0-9a-fA-F]{40}", published).group(0)
        assert "bought" in run("tokens", "buy", did, *as_user("consumer", password_file)).stdout
        started = run(
            "compute", "start", did, "--raw", str(tmp_path / "followed.py"), "--no-wait",
            *as_user("consumer", password_file),
        ).stdout  # fmt: skip
        job_id = re.search(r"job ([0-9a-f]{32})", started).group(1)

        # Followed: each line as the algorithm prints it, the stream ending with the job.
        provider = ProviderClient(deployment["provider_url"], keys["consumer"])
        follower = subprocess.Popen(
            [C2D, "compute", "logs", job_id, "--follow", *as_user("consumer", password_file)],
            stdout=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", **user.env},
        )
        arrivals = []
        status_at_first_line = None
        assert follower.stdout is not None
        for line in follower.stdout:
            arrivals.append((time.monotonic(), line.decode().strip()))
            if status_at_first_line is None:
                (status_at_first_line,) = provider.compute_status(job_id)
        assert follower.wait(timeout=60) == 0
        assert [text for _, text in arrivals] == [f"step {i}" for i in range(STEPS)]
        assert status_at_first_line["status"] == 40, status_at_first_line  # the algorithm was still running
        spread = arrivals[-1][0] - arrivals[0][0]
        assert spread > 0.5 * (STEPS - 1) * 0.5, arrivals  # they came as printed, not all at the end
        (final,) = provider.compute_status(job_id)
        assert final["status"] == 70, final
        index = next(r["index"] for r in final["results"] if r["filename"] == "sum.txt")
        assert run("compute", "result", job_id, str(index), *as_user("consumer", password_file)).stdout == "6"
        assert run("compute", "logs", job_id, "--no-follow", *as_user("consumer", password_file)).stdout.startswith(
            "step 0\n"
        )
        provider.close()

    # What the user saw never holds a key, the password or the data's URL.
    seen = "\n".join(user.outputs)
    for secret in [PASSWORD, url, *(k.removeprefix("0x") for k in keys.values())]:
        assert secret not in seen


def test_a_free_dataset_and_a_trusted_algorithm(tmp_path, deployment, user):
    run, password_file, keys = unpack(user)
    served = tmp_path / "served"
    served.mkdir()
    (served / "n.csv").write_text("4\n5\n")
    (served / "sum.py").write_text(printing(1))
    with FileServer(served, {}) as files:
        algorithm = run(
            "publish", "algorithm", "--url", f"{files.url}/sum.py", "--free", *as_user("publisher", password_file)
        ).stdout
        algorithm_did = re.search(r"did:op:[0-9a-fA-F]{40}", algorithm).group(0)
        assert "free: up to 10 per address from the dispenser" in algorithm
        dataset = run(
            "publish", "dataset", "--url", f"{files.url}/n.csv", "--free", "--trust-algorithm", algorithm_did,
            *as_user("publisher", password_file),
        ).stdout  # fmt: skip
        did = re.search(r"did:op:[0-9a-fA-F]{40}", dataset).group(0)
        for asset in (did, algorithm_did):
            assert "received" in run("tokens", "dispense", asset, *as_user("consumer", password_file)).stdout
        job = run("compute", "start", did, "--algorithm", algorithm_did, *as_user("consumer", password_file)).stdout
        assert "70 Job finished" in job, job
        # A raw algorithm is not trusted there.
        (tmp_path / "raw.py").write_text("print(1)\n")
        run("tokens", "dispense", did, *as_user("consumer", password_file))
        refused = run("compute", "start", did, "--raw", str(tmp_path / "raw.py"), *as_user("consumer", password_file),
                      check=False)  # fmt: skip
        assert refused.returncode == 1 and "raw_algorithm_not_allowed" in refused.stdout, refused.stdout
    # The dispenser's limit holds for each address.
    over = run("tokens", "dispense", did, "--amount", "11", *as_user("consumer", password_file), check=False)
    assert over.returncode == 1 and "maxTokens" in over.stdout, over.stdout
    assert Account.from_key(keys["consumer"]).address == user.addresses["consumer"]


def test_a_profile_is_checked_and_a_wallet_needs_its_password(tmp_path, deployment, user):
    run, _, keys = unpack(user)
    # a provider whose chain is not the RPC URL's
    wrong = run(
        "profile", "add", "elsewhere", "--provider-url", deployment["provider_url"],
        "--rpc-url", f"http://127.0.0.1:{free_port()}", check=False,
    )  # fmt: skip
    assert wrong.returncode == 1 and "no chain answers" in wrong.stdout, wrong.stdout
    missing = run("profile", "add", "none", "--provider-url", f"http://127.0.0.1:{free_port()}", check=False)
    assert missing.returncode == 1 and "no provider answers" in missing.stdout
    (tmp_path / "wrong").write_text("not the password\n")
    refused = run("compute", "status", "--profile", "there", "--wallet", "consumer", "--password-file",
                  str(tmp_path / "wrong"), check=False)  # fmt: skip
    assert refused.returncode == 1 and "wrong password" in refused.stdout
    no_wallet = run("compute", "status", "--profile", "there", check=False)
    assert no_wallet.returncode == 1 and "needs a wallet" in no_wallet.stdout
    dev = run("compute", "status", "--profile", "there", "--account", "2", check=False)
    assert dev.returncode == 2 and "--account" in dev.stdout + dev.stderr  # a usage error
    # C2D_PRIVATE_KEY for scripts; `profile use` makes the profile the default.
    run("profile", "use", "there")
    scripted = c2d("compute", "status", check=False, env={**user.env, "C2D_PRIVATE_KEY": keys["consumer"]})
    assert scripted.returncode == 0, scripted.stdout
    assert keys["consumer"].removeprefix("0x") not in scripted.stdout + scripted.stderr
    assert "*" in run("profile", "list").stdout.split("there")[0].splitlines()[-1]

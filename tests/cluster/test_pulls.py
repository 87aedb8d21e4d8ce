"""Images pulled by the docker executor from a real registry (Debian's docker-registry, on
loopback), behind a link that makes every connection wait: the pull's time is not the
algorithm's, a pull that takes longer than the environment's startTimeout ends the job with 32,
and an image pinned by digest is pulled by that digest; a registry that asks for a password is
pulled from with the environment's credentials, which show nowhere."""

import contextlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from c2d.client import ProviderClient
from c2d.localchain import free_port
from jobs import dataset_order, wait_final
from stacks import start_stack

DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"  # the test cluster's dockerd
LINK_DELAY = 2.5  # seconds each connection to the registry waits before it is relayed


def docker(*args, check=True):
    env = {**os.environ, "DOCKER_HOST": DOCKER_HOST}
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, check=check, timeout=120)


class SlowLink:
    """A TCP relay on loopback whose every connection waits LINK_DELAY before it is relayed."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        time.sleep(LINK_DELAY)
        upstream = socket.create_connection(("127.0.0.1", self.target))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.server.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(1 << 16):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def serve_registry(root, users=None):
    """docker-registry on loopback, storing under `root`; with `users` ({name: password}) it asks
    for them (htpasswd, bcrypt)."""
    port = free_port()
    config = root / "config.yml"
    text = (
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    if users:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        lines = [f"{name}:{crypt.crypt(word, crypt.mksalt(crypt.METHOD_BLOWFISH))}" for name, word in users.items()]
        (root / "htpasswd").write_text("\n".join(lines) + "\n")
        text += f"auth:\n  htpasswd:\n    realm: c2d-test\n    path: {root / 'htpasswd'}\n"
    config.write_text(text)
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline and server.poll() is None, "the registry did not start"
        time.sleep(0.1)
    return server, port


def push_shell_runtime(port, *config):
    pushed = f"127.0.0.1:{port}/c2d/algorithm-shell:pull"
    docker("tag", "c2d/algorithm-shell:dev", pushed)
    docker(*config, "push", "--quiet", pushed)
    docker("rmi", pushed)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, kubeconfig):
    """docker-registry on loopback holding c2d's shell runtime as c2d/algorithm-shell:pull,
    reached through a slow link."""
    server, port = serve_registry(tmp_path_factory.mktemp("registry"))
    push_shell_runtime(port)
    link = SlowLink(port)
    yield link
    link.close()
    server.terminate()
    server.wait(10)


PASSWORD = "c2d-registry-password-never-shown"


@pytest.fixture(scope="module")
def private(tmp_path_factory, kubeconfig):
    """A registry that asks for a user's password, and a docker config directory holding it."""
    import base64

    root = tmp_path_factory.mktemp("private-registry")
    server, port = serve_registry(root, {"c2d": PASSWORD})
    credentials = root / "docker-config"
    credentials.mkdir()
    auth = base64.b64encode(f"c2d:{PASSWORD}".encode()).decode()
    (credentials / "config.json").write_text(json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": auth}}}))
    credentials.joinpath("config.json").chmod(0o600)
    push_shell_runtime(port, "--config", str(credentials))
    yield port, credentials
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def pulling(registry, private, ganache, addresses_file, keys, tmp_path_factory, published, assets):
    """A docker stack whose environments pull from the registry (through the slow link), or from
    the private one, with or without its credentials."""
    images = [f"127.0.0.1:{registry.port}/*"]
    port, credentials = private
    privately = {"images": [f"127.0.0.1:{port}/*"], "pullPolicy": "if-not-present", "maxDuration": 30}
    environments = [
        {"id": "private", **privately, "pullSecret": str(credentials)},
        {"id": "no-credentials", **privately},
        {"id": "pulls", "images": images, "pullPolicy": "if-not-present", "maxDuration": 2, "startTimeout": 60},
        {"id": "quick-start", "images": images, "pullPolicy": "if-not-present", "maxDuration": 30, "startTimeout": 1},
        {"id": "always", "images": images, "pullPolicy": "always", "maxDuration": 30, "startTimeout": 60},
    ]
    stack = start_stack(
        tmp_path_factory.mktemp("pulling"), published, ganache, addresses_file, keys,
        {"executor": "docker", "docker_host": DOCKER_HOST}, environments=environments,
    )  # fmt: skip
    api = ProviderClient(stack.provider.url, keys[2])
    api.stack = stack
    yield api
    api.close()
    stack.stop()


def shell_job(registry, checksum=None, port=None):
    image = f"127.0.0.1:{port or registry.port}/c2d/algorithm-shell"
    container = {
        "entrypoint": "sh $ALGO",
        "image": image,
        "tag": "pull",
        **({"checksum": checksum} if checksum else {}),
    }
    return {"meta": {"rawcode": "echo ran in the pulled image\n", "container": container}}


def forget(registry):
    docker("rmi", f"127.0.0.1:{registry.port}/c2d/algorithm-shell:pull", check=False)


def test_the_pull_is_not_the_algorithms_time(pulling, registry, assets, consumer):
    dataset, _ = assets
    forget(registry)
    t0 = time.monotonic()
    (job,) = pulling.compute_start(dataset_order(consumer, dataset), shell_job(registry), environment="pulls")
    final = wait_final(pulling, job["jobId"], timeout=120)
    took = time.monotonic() - t0
    assert final["status"] == 70, final  # maxDuration 2 s; the pull alone took longer
    assert took > LINK_DELAY and pulling.compute_logs(job["jobId"]) == b"ran in the pulled image\n"
    assert docker("image", "inspect", f"127.0.0.1:{registry.port}/c2d/algorithm-shell:pull").returncode == 0


def test_a_pull_beyond_the_start_time_ends_the_job_with_32(pulling, registry, assets, consumer):
    dataset, _ = assets
    forget(registry)
    (job,) = pulling.compute_start(dataset_order(consumer, dataset), shell_job(registry), environment="quick-start")
    final = wait_final(pulling, job["jobId"], timeout=60)
    assert final["status"] == 32, final
    assert final["reason"] == (
        f"the algorithm's image 127.0.0.1:{registry.port}/c2d/algorithm-shell:pull was not pulled within 1 s"
    )
    assert b"ran in" not in pulling.compute_logs(job["jobId"])


def test_a_pinned_image_is_pulled_by_its_digest_and_only_that_one(pulling, registry, assets, consumer):
    dataset, _ = assets
    forget(registry)
    docker("pull", "--quiet", f"127.0.0.1:{registry.port}/c2d/algorithm-shell:pull")
    found = docker("image", "inspect", "--format", "{{json .RepoDigests}}", "c2d/algorithm-shell:dev").stdout
    digest = next(d for d in json.loads(found) if f":{registry.port}/" in d).partition("@")[2]
    forget(registry)
    order = dataset_order(consumer, dataset)
    (job,) = pulling.compute_start(order, shell_job(registry, digest), environment="always")
    assert wait_final(pulling, job["jobId"], timeout=120)["status"] == 70
    other = "sha256:" + "0" * 64  # nothing in the registry has it
    (job,) = pulling.compute_start(dataset_order(consumer, dataset), shell_job(registry, other), environment="always")
    final = wait_final(pulling, job["jobId"], timeout=120)
    assert final["status"] == 32, final
    assert final["reason"].startswith(
        f"the algorithm's image 127.0.0.1:{registry.port}/c2d/algorithm-shell@{other} could not be pulled: "
    ), final


def test_a_private_registry_is_pulled_from_with_the_environments_credentials_only(
    pulling, registry, private, assets, consumer
):
    dataset, _ = assets
    port, credentials = private
    docker("rmi", f"127.0.0.1:{port}/c2d/algorithm-shell:pull", check=False)
    refused = pulling.compute_start(
        dataset_order(consumer, dataset), shell_job(registry, port=port), environment="no-credentials"
    )[0]
    final = wait_final(pulling, refused["jobId"], timeout=120)
    assert final["status"] == 32 and "could not be pulled" in final["reason"], final
    assert "no basic auth credentials" in final["reason"] or "unauthorized" in final["reason"], final
    (job,) = pulling.compute_start(
        dataset_order(consumer, dataset), shell_job(registry, port=port), environment="private"
    )
    final = wait_final(pulling, job["jobId"], timeout=120)
    assert final["status"] == 70 and pulling.compute_logs(job["jobId"]) == b"ran in the pulled image\n", final
    # the credentials, and where they are, show nowhere: job status, environments, logs, the engine's log
    shown = json.dumps([pulling.compute_status(job["jobId"]), pulling.environments()])
    shown += pulling.compute_logs(job["jobId"]).decode() + (pulling.stack.root / "engine.log").read_text()
    auth = json.loads((credentials / "config.json").read_text())["auths"][f"127.0.0.1:{port}"]["auth"]
    for secret in (PASSWORD, auth, str(credentials)):
        assert secret not in shown

"""Which image an algorithm runs in, and whether an environment may run it.

The job's container section names the image (c2d.job.spec.Container): `image:tag`, or
`image@sha256:…` when it declares a checksum, and then only that image runs. Each environment
lists the images it accepts (`images`, c2d's runtime images by default); a job whose container
is outside the list, or that its executor cannot run, is refused when it is started (400) and
never fails later for that reason.

c2d's runtime images, built by `make images` from one base, each with one interpreter:

    python   c2d/algorithm-python   python3 (as `python` too)
    node     c2d/algorithm-node     Node.js (`node`)
    shell    c2d/algorithm-shell    POSIX sh and coreutils only

The local executor has no images: it serves these runtimes with the host's interpreter of the
same name, inside its sandbox (which sees the host's /usr read-only), so it takes a container
of a runtime image whose interpreter the host has, at any tag, without a checksum (there is no
image whose digest could be compared). The docker and kubernetes executors run any image the
environment's list accepts.
"""

import os
from dataclasses import dataclass

from c2d.job import Container
from c2d.operator.environments import Environment
from c2d.operator.settings import OperatorSettings


@dataclass(frozen=True)
class Runtime:
    name: str
    image: str  # under the operator's image prefix
    interpreter: str  # the host's, for the local executor


RUNTIMES = (
    Runtime("python", "algorithm-python", "/usr/bin/python3"),
    Runtime("node", "algorithm-node", "/usr/bin/node"),
    Runtime("shell", "algorithm-shell", "/bin/sh"),
)


class ContainerRefused(Exception):
    """The environment does not run this container: a client's error, said before the job exists."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def runtime_images(settings: OperatorSettings) -> list[str]:
    return [settings.image_prefix + runtime.image for runtime in RUNTIMES]


def accepted(env: Environment, settings: OperatorSettings) -> list[str]:
    """The environment's list of images (c2d's runtime images when it names none)."""
    return list(env.images) or runtime_images(settings)


def matches(container: Container, entry: str) -> bool:
    """Whether one entry of an environment's list accepts the container's image."""
    if entry.endswith("/*"):
        return container.image.startswith(entry[:-1])
    if entry.startswith("sha256:"):
        return container.checksum == entry
    repository, _, digest = entry.partition("@")
    if digest:
        return container.image == repository and container.checksum == digest
    if ":" in repository.rsplit("/", 1)[-1]:  # repository:tag (a registry's port is before a slash)
        repository, tag = repository.rsplit(":", 1)
        return container.image == repository and container.tag == tag
    return container.image == repository


def local_runtimes(settings: OperatorSettings) -> list[Runtime]:
    """The runtimes this host can serve to the local executor."""
    return [runtime for runtime in RUNTIMES if os.access(runtime.interpreter, os.X_OK)]


def check(container: Container, env: Environment, settings: OperatorSettings) -> None:
    """Raises ContainerRefused, saying why, when `env` may not or cannot run the container."""
    allowed = accepted(env, settings)
    if not any(matches(container, entry) for entry in allowed):
        shown = ", ".join(allowed[:8]) + (", …" if len(allowed) > 8 else "")
        raise ContainerRefused(
            "image_not_allowed",
            f"the environment {env.id} does not run the image {container.image}: it runs {shown}",
        )
    if settings.executor != "local":
        return
    if env.gpus:
        raise ContainerRefused(
            "gpus_unavailable", f"the environment {env.id} asks for GPUs, which the local executor cannot give"
        )
    served = {settings.image_prefix + runtime.image: runtime for runtime in local_runtimes(settings)}
    if container.image not in served:
        names = ", ".join(served) or "none on this host"
        raise ContainerRefused(
            "runtime_unavailable",
            f"the environment {env.id} runs algorithms with this host's interpreters, in the runtimes {names}; "
            f"{container.image} is not one of them",
        )
    if container.checksum:
        raise ContainerRefused(
            "runtime_unavailable",
            f"the environment {env.id} runs the host's interpreter for {container.image}, so it cannot check an "
            "image digest: leave the checksum out, or choose an environment that runs containers",
        )

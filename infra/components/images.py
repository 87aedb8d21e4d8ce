"""c2d's images, built by the stack (c2d:images build) from images/*.Dockerfile and pushed to
c2d:imageRegistry with pulumi-docker-build; every pod then names its image by the digest the push
returned. The Dockerfiles copy what `scripts/images.sh stage` puts in .toolchain/images (wheels
of requirements/c2d.lock, Ganache, the compiled contracts): a local command does that first."""

import hashlib
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_docker_build as docker_build

from c2d.infra.config import ImageBuild, Placement

REPO = Path(__file__).resolve().parents[2]


class Images(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        at: Placement,
        build: ImageBuild,
        components: tuple[str, ...],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("c2d:infra:Images", name, None, opts)
        # Staged again whenever what the images are made of changes.
        made_of = [REPO / "requirements" / "c2d.lock", REPO / "package-lock.json", REPO / "scripts" / "images.sh"]
        stage = command.local.Command(
            "stage-images",
            create="make -s contracts && scripts/images.sh stage",
            dir=str(REPO),
            triggers=[hashlib.sha256(b"".join(p.read_bytes() for p in made_of if p.exists())).hexdigest()],
            opts=pulumi.ResourceOptions(parent=self),
        )
        registries: list[Any] = []
        if build.username and build.password is not None:
            registries = [
                {"address": at.image_registry.split("/", 1)[0], "username": build.username, "password": build.password}
            ]
        self.refs: dict[str, pulumi.Output[str]] = {}
        for component in components:
            image = docker_build.Image(
                component,
                context={"location": str(REPO)},
                dockerfile={"location": str(REPO / "images" / f"{component}.Dockerfile")},
                build_args={"BASE": build.base},
                tags=[f"{at.image_registry}{component}:{at.image_tag}"],
                platforms=["linux/amd64"],
                push=True,
                registries=registries,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[stage]),
            )
            self.refs[component] = image.ref  # tag@sha256:…, what the registry took
        self.register_outputs({"refs": self.refs})

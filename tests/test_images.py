"""Which images an environment's list accepts (c2d.operator.images.matches)."""

import pytest

from c2d.job import Container

DIGEST = "sha256:" + "5e" * 32
OTHER = "sha256:" + "07" * 32


def image(name="registry.example.org:5000/team/r-base", tag="4.3", checksum=None):
    return Container(entrypoint="Rscript $ALGO", image=name, tag=tag, checksum=checksum)


@pytest.mark.parametrize(
    ("entry", "container", "accepted"),
    [
        ("registry.example.org:5000/team/r-base", image(), True),  # a repository: any tag
        ("registry.example.org:5000/team/r-base", image(checksum=DIGEST), True),  # or digest
        ("registry.example.org:5000/team/r-bas", image(), False),  # not a prefix match
        ("registry.example.org:5000/team/r-base:4.3", image(), True),
        ("registry.example.org:5000/team/r-base:4.4", image(), False),
        ("registry.example.org:5000/team/*", image(), True),
        ("registry.example.org:5000/*", image(name="registry.example.org:50001/team/r-base"), False),
        (f"registry.example.org:5000/team/r-base@{DIGEST}", image(checksum=DIGEST), True),
        (f"registry.example.org:5000/team/r-base@{DIGEST}", image(checksum=OTHER), False),
        (f"registry.example.org:5000/team/r-base@{DIGEST}", image(), False),  # unpinned: any image
        (DIGEST, image(name="elsewhere/r", checksum=DIGEST), True),
        (DIGEST, image(), False),
    ],
)
def test_an_entry_accepts_exactly_what_it_names(entry, container, accepted):
    from c2d.operator.images import matches

    assert matches(container, entry) is accepted


@pytest.mark.parametrize(
    ("field", "value"),
    [("image", "Upper/case"), ("image", "a//b"), ("image", "x@sha256:00"), ("tag", "-dash"), ("checksum", "sha256:00")],
)
def test_a_container_names_images_as_docker_does(field, value):
    from pydantic import ValidationError

    fields = {"entrypoint": "x", "image": "c2d/algorithm-python", "tag": "dev", field: value}
    with pytest.raises(ValidationError):
        Container(**fields)


def test_a_pinned_container_is_named_by_its_digest():
    assert image(checksum=DIGEST).reference == f"registry.example.org:5000/team/r-base@{DIGEST}"
    assert image().reference == "registry.example.org:5000/team/r-base:4.3"

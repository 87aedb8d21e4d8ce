"""`c2d publish dataset|algorithm` (local files on the embedded stack, or URLs the provider fetches on
any deployment) and `c2d tokens buy|dispense`."""

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError
from rich.markup import escape

from c2d.assets import Privacy, PublishedFile, Services
from c2d.assets import publish as publish_asset
from c2d.chain import Chain, datatoken_for
from c2d.cli.common import Session, console, friendly, with_session
from c2d.compute import DEFAULT_CONTAINER
from c2d.job.policy import PRESETS, OutputPolicy

publish = typer.Typer(no_args_is_help=True)
tokens = typer.Typer(no_args_is_help=True)
ONE = 10**18


def _publish(
    kind: str,
    files: list[Path],
    urls: list[str],
    content_type: str,
    checksum: bool,
    name: str,
    services: Services,
    listing: "Listing",
    session: Session,
    container: dict[str, str] | None = None,
) -> None:
    if not files and not urls:
        raise typer.BadParameter("give the files to publish, or --url for each file the provider is to fetch")
    consumer = session.consumer
    published_files = []
    if files:
        folder = session.publisher_dir()
        for path in files:
            if not path.is_file():
                raise typer.BadParameter(f"{path} is not a file")
            if path.resolve().parent != folder.resolve():
                shutil.copy2(path, folder / path.name)  # the provider serves only the publisher's folder
            assert session.stack is not None
            served = session.stack.served_path(folder / path.name)
            published_files.append(PublishedFile.local(folder / path.name, served_as=served))
    for number, url in enumerate(urls, 1):
        digest = sha256_of(url, number) if checksum else None
        published_files.append(PublishedFile.remote(url, content_type, digest))
    with console.status(f"publishing the {kind}"):
        asset = publish_asset(
            consumer.chain, consumer.provider, name, published_files, services, kind=kind, container=container,
            supply=listing.supply * ONE,
        )  # fmt: skip
        if listing.free:
            consumer.chain.enable_dispenser(asset.datatoken, listing.free_limit * ONE, listing.free_limit * ONE)
        else:
            consumer.chain.create_exchange(asset.datatoken, int(listing.rate * ONE), listing.supply * ONE)
    console.print(f"[green]✔[/] {kind} published: [bold]{asset.did}[/]")
    if listing.free:
        console.print(f"  datatoken {asset.datatoken}; free: up to {listing.free_limit} per address from the dispenser")
    else:
        console.print(f"  datatoken {asset.datatoken}; {listing.supply} listed at {listing.rate} base tokens each")
    for info in consumer.provider.fileinfo(asset.did):  # what the provider sees, without the URLs
        size = f"{info['contentLength']} bytes" if info.get("contentLength") is not None else "size unknown"
        state = "" if info.get("valid", True) else " — the provider cannot read it"
        console.print(f"  [{info.get('index')}] {escape(str(info.get('contentType')))}, {size}{state}")


@dataclass(frozen=True)
class Listing:
    """How consumers get the datatokens: bought on the fixed-rate exchange, or free from the dispenser."""

    supply: int
    rate: float
    free: bool
    free_limit: int


Urls = Annotated[
    list[str] | None,
    typer.Option("--url", help="an http(s) URL the provider fetches the file from (repeatable); never shown"),
]
ContentType = Annotated[str, typer.Option(help="the --url files' content type")]
Checksum = Annotated[bool, typer.Option(help="fetch each --url once here to declare its sha256 (configure checks it)")]
Free = Annotated[bool, typer.Option(help="free: consumers get datatokens from the dispenser, no exchange")]
FreeLimit = Annotated[int, typer.Option(help="with --free: datatokens one address may get")]
Supply = Annotated[int, typer.Option(help="datatokens to list on the exchange")]
Rate = Annotated[float, typer.Option(help="base tokens per datatoken")]


def sha256_of(url: str, number: int) -> str:
    """The sha256 of what `url` (the `number`th --url) serves now, read in chunks (never held
    whole). Errors name the URL by its number: a data URL is not repeated on screen or in logs."""
    if not url.lower().startswith(("http://", "https://")):
        raise typer.BadParameter(f"URL {number} is not http(s)", param_hint="--url")
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, timeout=60, follow_redirects=True) as response:
            if response.status_code != 200:
                raise typer.BadParameter(
                    f"URL {number} answered {response.status_code} here (or give --no-checksum)", param_hint="--url"
                )
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
    except httpx.HTTPError as exc:
        raise typer.BadParameter(
            f"URL {number} cannot be read here ({type(exc).__name__}); or give --no-checksum", param_hint="--url"
        ) from None
    return digest.hexdigest()


def trusted_algorithm(chain: Chain, did: str) -> dict[str, str]:
    """The publisherTrustedAlgorithms entry of a published algorithm, from its DDO on chain: the
    checksums the provider compares at each job (files as their DDO declares them, the
    container section as canonical JSON)."""
    from c2d.chain.metadata import latest_metadata
    from c2d.provider.ddo import DDO, container_checksum, files_checksum

    record = latest_metadata(chain, did)
    if record is None:
        raise typer.BadParameter(f"{did} is not published on this chain", param_hint="--trust-algorithm")
    try:
        ddo = DDO.model_validate_json(record.data)
    except ValidationError:
        raise typer.BadParameter(f"{did}'s DDO is not valid", param_hint="--trust-algorithm") from None
    algorithm = ddo.main.algorithm
    if ddo.main.type != "algorithm" or algorithm is None:
        raise typer.BadParameter(f"{did} is not an algorithm", param_hint="--trust-algorithm")
    checksums = [file.checksum for file in sorted(ddo.main.files, key=lambda f: f.index)]
    if not checksums or any(not c for c in checksums):
        raise typer.BadParameter(
            f"{did} declares no checksum for each of its files: nothing to trust", param_hint="--trust-algorithm"
        )
    return {
        "did": did,
        "filesChecksum": files_checksum([str(c) for c in checksums]),
        "containerSectionChecksum": container_checksum(algorithm.container),
    }


@publish.command()
@friendly
@with_session(default_account=1)
def dataset(
    files: Annotated[
        list[Path] | None, typer.Argument(help="local files to publish (copied into the embedded stack's data root)")
    ] = None,
    url: Urls = None,
    content_type: ContentType = "application/octet-stream",
    checksum: Checksum = True,
    name: Annotated[str, typer.Option()] = "dataset",
    cost: Annotated[float, typer.Option(help="datatokens per job or download")] = 1.0,
    access: Annotated[bool, typer.Option(help="offer downloads too")] = False,
    trust_publisher: Annotated[list[str], typer.Option(help="algorithm publisher addresses to trust")] = [],  # noqa: B006
    trust_algorithm: Annotated[
        list[str], typer.Option(help="published algorithm DIDs to trust (as they are now: checksums are taken)")
    ] = [],  # noqa: B006
    allow_raw: Annotated[bool, typer.Option(help="allow raw (unpublished) algorithms")] = False,
    allow_network: Annotated[bool, typer.Option(help="let algorithms use the network")] = False,
    supply: Supply = 100,
    rate: Rate = 1.0,
    free: Free = False,
    free_limit: FreeLimit = 10,
    output_policy: Annotated[
        str, typer.Option(help=f"what may leave a job: a preset ({', '.join(PRESETS)}) or a JSON file")
    ] = "default",
    *,
    session: Session,
) -> None:
    """Publish a dataset with a compute service (and optionally downloads)."""
    privacy = Privacy(
        allowRawAlgorithm=allow_raw,
        allowNetworkAccess=allow_network,
        publisherTrustedAlgorithms=[trusted_algorithm(session.consumer.chain.chain, did) for did in trust_algorithm],
        publisherTrustedAlgorithmPublishers=list(trust_publisher),
    )
    policy = _output_policy(output_policy).model_dump(mode="json")
    services = Services(
        access_cost=int(cost * ONE) if access else None,
        compute_cost=int(cost * ONE),
        privacy=privacy,
        output_policy=policy,
    )
    listing = Listing(supply, rate, free, free_limit)
    _publish("dataset", files or [], url or [], content_type, checksum, name, services, listing, session)


def _output_policy(value: str) -> OutputPolicy:
    """A preset by name, or a policy file (JSON, at most 64 KiB), checked as the operator checks it."""
    if value in PRESETS:
        return PRESETS[value]
    path = Path(value)
    if not path.is_file():
        raise typer.BadParameter(f"{value} is neither a preset ({', '.join(PRESETS)}) nor a file")
    with path.open("rb") as handle:
        text = handle.read((64 << 10) + 1)
    if len(text) > 64 << 10:
        raise typer.BadParameter(f"{value} is larger than 64 KiB")
    try:
        return OutputPolicy.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the policy"
        raise typer.BadParameter(f"{value}: {where}: {first['msg']}") from None


@publish.command()
@friendly
@with_session(default_account=1)
def algorithm(
    file: Annotated[
        Path | None, typer.Argument(help="the algorithm (copied into the embedded stack's data root)")
    ] = None,
    url: Urls = None,
    checksum: Checksum = True,
    name: Annotated[str, typer.Option()] = "algorithm",
    entrypoint: Annotated[str, typer.Option(help="$ALGO is the algorithm's path")] = DEFAULT_CONTAINER["entrypoint"],
    image: Annotated[str, typer.Option(help="the image it runs in")] = DEFAULT_CONTAINER["image"],
    tag: Annotated[str, typer.Option(help="the image's tag")] = DEFAULT_CONTAINER["tag"],
    image_checksum: Annotated[
        str | None,
        typer.Option(help="the image's digest (sha256:…); read from the local Docker when --image is given"),
    ] = None,
    pin: Annotated[bool, typer.Option(help="pin --image by its digest")] = True,
    cost: Annotated[float, typer.Option(help="datatokens per use")] = 1.0,
    supply: Supply = 100,
    rate: Rate = 1.0,
    free: Free = False,
    free_limit: FreeLimit = 10,
    *,
    session: Session,
) -> None:
    """Publish an algorithm (its access service is what a job orders)."""
    if image_checksum is None and pin and image != DEFAULT_CONTAINER["image"]:
        image_checksum = image_digest(f"{image}:{tag}")
    container = {
        "entrypoint": entrypoint, "image": image, "tag": tag, **({"checksum": image_checksum} if image_checksum else {})
    }  # fmt: skip
    services = Services(access_cost=int(cost * ONE))
    files = [file] if file else []
    listing = Listing(supply, rate, free, free_limit)
    _publish("algorithm", files, url or [], "text/plain", checksum, name, services, listing, session, container)


@tokens.command()
@friendly
@with_session(default_account=2)
def buy(
    did: Annotated[str, typer.Argument()],
    amount: Annotated[float, typer.Option(help="datatokens to buy")] = 1.01,
    *,
    session: Session,
) -> None:
    """Buy datatokens of an asset on its fixed-rate exchange."""
    consumer = session.consumer
    with console.status("buying"):
        consumer.buy(did, int(amount * ONE))
    held = consumer.chain.datatoken_balance(datatoken_for(did)) / ONE
    console.print(f"[green]✔[/] bought {amount} datatokens of {did}; you hold {held:.4f}")


@tokens.command()
@friendly
@with_session(default_account=2)
def dispense(
    did: Annotated[str, typer.Argument()],
    amount: Annotated[float, typer.Option()] = 1.01,
    *,
    session: Session,
) -> None:
    """Get free datatokens from an asset's dispenser (if its publisher enabled one)."""
    session.consumer.chain.dispense(datatoken_for(did), int(amount * ONE))
    console.print(f"[green]✔[/] received {amount} datatokens of {did}")


def image_digest(reference: str) -> str:
    """The digest of an image in the local Docker: its registry digest if it came from one, else its id."""
    import json
    import subprocess

    try:
        done = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .}}", reference],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        raise typer.BadParameter(f"{reference} is not in the local Docker: give --image-checksum sha256:… or --no-pin")
    found = json.loads(done.stdout)
    digests = [str(d).partition("@")[2] for d in found.get("RepoDigests") or []]
    return digests[0] if digests else str(found["Id"])

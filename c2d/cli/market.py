"""`c2d publish dataset|algorithm` and `c2d tokens buy|dispense` on the embedded stack."""

import shutil
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from c2d.assets import Privacy, PublishedFile, Services
from c2d.assets import publish as publish_asset
from c2d.chain import datatoken_for
from c2d.cli.common import Account, DataDir, clients, console, friendly
from c2d.compute import DEFAULT_CONTAINER
from c2d.job.policy import PRESETS, OutputPolicy

publish = typer.Typer(no_args_is_help=True)
tokens = typer.Typer(no_args_is_help=True)
ONE = 10**18


def _publish(
    kind: str,
    files: list[Path],
    name: str,
    services: Services,
    supply: int,
    rate: float,
    data_dir: Path | None,
    account: int,
    container: dict[str, str] | None = None,
) -> None:
    state, consumer = clients(data_dir, account)
    folder = state.publisher_dir(account)
    published_files = []
    for path in files:
        if not path.is_file():
            raise typer.BadParameter(f"{path} is not a file")
        if path.resolve().parent != folder.resolve():
            shutil.copy2(path, folder / path.name)  # the provider serves only the publisher's folder
        published_files.append(PublishedFile.local(folder / path.name, served_as=state.served_path(folder / path.name)))
    with console.status(f"publishing the {kind}"):
        asset = publish_asset(
            consumer.chain, consumer.provider, name, published_files, services, kind=kind, container=container,
            supply=supply * ONE,
        )  # fmt: skip
        consumer.chain.create_exchange(asset.datatoken, int(rate * ONE), supply * ONE)
    console.print(f"[green]✔[/] {kind} published: [bold]{asset.did}[/]")
    console.print(f"  datatoken {asset.datatoken}; {supply} listed at {rate} base tokens each")


@publish.command()
@friendly
def dataset(
    files: Annotated[list[Path], typer.Argument(help="files to publish (copied into the stack's data root)")],
    name: Annotated[str, typer.Option()] = "dataset",
    cost: Annotated[float, typer.Option(help="datatokens per job or download")] = 1.0,
    access: Annotated[bool, typer.Option(help="offer downloads too")] = False,
    trust_publisher: Annotated[list[str], typer.Option(help="algorithm publisher addresses to trust")] = [],  # noqa: B006
    allow_raw: Annotated[bool, typer.Option(help="allow raw (unpublished) algorithms")] = False,
    allow_network: Annotated[bool, typer.Option(help="let algorithms use the network")] = False,
    supply: Annotated[int, typer.Option(help="datatokens to list on the exchange")] = 100,
    rate: Annotated[float, typer.Option(help="base tokens per datatoken")] = 1.0,
    output_policy: Annotated[
        str, typer.Option(help=f"what may leave a job: a preset ({', '.join(PRESETS)}) or a JSON file")
    ] = "default",
    data_dir: DataDir = None,
    account: Account = 1,
) -> None:
    """Publish a dataset with a compute service (and optionally downloads)."""
    privacy = Privacy(
        allowRawAlgorithm=allow_raw,
        allowNetworkAccess=allow_network,
        publisherTrustedAlgorithmPublishers=list(trust_publisher),
    )
    policy = _output_policy(output_policy).model_dump(mode="json")
    services = Services(
        access_cost=int(cost * ONE) if access else None,
        compute_cost=int(cost * ONE),
        privacy=privacy,
        output_policy=policy,
    )
    _publish("dataset", files, name, services, supply, rate, data_dir, account)


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
def algorithm(
    file: Annotated[Path, typer.Argument(help="the algorithm (copied into the stack's data root)")],
    name: Annotated[str, typer.Option()] = "algorithm",
    entrypoint: Annotated[str, typer.Option(help="$ALGO is the algorithm's path")] = DEFAULT_CONTAINER["entrypoint"],
    image: Annotated[str, typer.Option(help="the image it runs in")] = DEFAULT_CONTAINER["image"],
    tag: Annotated[str, typer.Option(help="the image's tag")] = DEFAULT_CONTAINER["tag"],
    checksum: Annotated[
        str | None,
        typer.Option(help="the image's digest (sha256:…); read from the local Docker when --image is given"),
    ] = None,
    pin: Annotated[bool, typer.Option(help="pin --image by its digest")] = True,
    cost: Annotated[float, typer.Option(help="datatokens per use")] = 1.0,
    supply: Annotated[int, typer.Option()] = 100,
    rate: Annotated[float, typer.Option()] = 1.0,
    data_dir: DataDir = None,
    account: Account = 1,
) -> None:
    """Publish an algorithm (its access service is what a job orders)."""
    if checksum is None and pin and image != DEFAULT_CONTAINER["image"]:
        checksum = image_digest(f"{image}:{tag}")
    container = {"entrypoint": entrypoint, "image": image, "tag": tag, **({"checksum": checksum} if checksum else {})}
    services = Services(access_cost=int(cost * ONE))
    _publish("algorithm", [file], name, services, supply, rate, data_dir, account, container)


@tokens.command()
@friendly
def buy(
    did: Annotated[str, typer.Argument()],
    amount: Annotated[float, typer.Option(help="datatokens to buy")] = 1.01,
    data_dir: DataDir = None,
    account: Account = 2,
) -> None:
    """Buy datatokens of an asset on its fixed-rate exchange."""
    _, consumer = clients(data_dir, account)
    with console.status("buying"):
        consumer.buy(did, int(amount * ONE))
    held = consumer.chain.datatoken_balance(datatoken_for(did)) / ONE
    console.print(f"[green]✔[/] bought {amount} datatokens of {did}; you hold {held:.4f}")


@tokens.command()
@friendly
def dispense(
    did: Annotated[str, typer.Argument()],
    amount: Annotated[float, typer.Option()] = 1.01,
    data_dir: DataDir = None,
    account: Account = 2,
) -> None:
    """Get free datatokens from an asset's dispenser (if its publisher enabled one)."""
    _, consumer = clients(data_dir, account)
    consumer.chain.dispense(datatoken_for(did), int(amount * ONE))
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
        raise typer.BadParameter(f"{reference} is not in the local Docker: give --checksum sha256:… or --no-pin")
    found = json.loads(done.stdout)
    digests = [str(d).partition("@")[2] for d in found.get("RepoDigests") or []]
    return digests[0] if digests else str(found["Id"])

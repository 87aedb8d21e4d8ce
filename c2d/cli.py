"""The `c2d` command line."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from c2d import __version__

app = typer.Typer(
    help="c2d: Compute-to-Data. Pay with datatokens, send the algorithm to the data.", no_args_is_help=True
)
console = Console()
T = TypeVar("T")


@app.command()
def version() -> None:
    """Print c2d's version."""
    console.print(f"c2d {__version__}")


@app.command()
def demo(port: Annotated[int | None, typer.Option(help="Ganache port (default: a free one)")] = None) -> None:
    """Run the demo on a local Ganache chain: deploy, publish, buy, order, verify."""
    from c2d.demo import run

    run(console, port=port)


@app.command()
def deploy(
    rpc_url: Annotated[
        str, typer.Option(envvar="C2D_RPC_URL", help="the chain's JSON-RPC URL")
    ] = "http://127.0.0.1:8545",
    addresses: Annotated[Path, typer.Option(envvar="C2D_ADDRESSES_FILE", help="addresses file to update")] = Path(
        "addresses.json"
    ),
) -> None:
    """Deploy the contracts (or reuse those already deployed) and record them in addresses.json.
    The deployer key comes from C2D_DEPLOYER_KEY, or the node's first unlocked account."""
    from c2d.localchain import deploy_contracts

    deployment = deploy_contracts(rpc_url, addresses, os.environ.get("C2D_DEPLOYER_KEY"))
    for name, address in deployment.addresses.items():
        console.print(f"{name:<18} {address}")


@app.command()
def provider(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8030,
) -> None:
    """Run the provider (settings from C2D_* environment variables; see c2d.provider.settings)."""
    import uvicorn

    from c2d.provider import create_app, load_settings

    uvicorn.run(create_app(_settings(load_settings)), host=host, port=port, log_level="info")


@app.command("operator-service")
def operator_service(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8031,
) -> None:
    """Run the operator service (the job API the provider calls; settings from C2D_*)."""
    import uvicorn

    from c2d.operator import create_app, load_environments
    from c2d.operator import load_settings as load_operator_settings

    settings = _settings(load_operator_settings)
    uvicorn.run(create_app(settings, load_environments(settings.environments_file)), host=host, port=port)


@app.command("operator-engine")
def operator_engine() -> None:
    """Run the engine that runs jobs (settings from C2D_*; shares the job store with the service)."""
    import logging

    from c2d.operator import build_engine
    from c2d.operator import load_settings as load_operator_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    build_engine(_settings(load_operator_settings)).run_forever()


def _settings(loader: Callable[[], T]) -> T:
    from c2d.settings import SettingsError

    try:
        return loader()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def main() -> None:
    app()

"""The `c2d` command line."""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from c2d import __version__

app = typer.Typer(
    help="c2d: Compute-to-Data. Pay with datatokens, send the algorithm to the data.", no_args_is_help=True
)
console = Console()


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

    from c2d.provider import SettingsError, create_app, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def main() -> None:
    app()

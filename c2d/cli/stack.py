"""`c2d stack up|down|status|connect`."""

from pathlib import Path
from typing import Annotated

import typer

from c2d import stack as embedded
from c2d.cli.common import DataDir, console, friendly

app = typer.Typer(no_args_is_help=True)


@app.command()
@friendly
def up(
    data_dir: DataDir = None,
    chain_port: Annotated[int, typer.Option(help="Ganache's port")] = 8545,
    provider_port: Annotated[int, typer.Option(help="the provider's port")] = 8030,
    operator_port: Annotated[int, typer.Option(help="the operator service's port")] = 8031,
) -> None:
    """Start Ganache, deploy the contracts, start the provider, operator service and engine."""
    directory = data_dir or embedded.default_data_dir()
    with console.status("starting") as spinner:
        state = embedded.up(directory, chain_port, provider_port, operator_port, lambda s: spinner.update(s))
    console.print(f"[green]✔[/] c2d is up in {directory}")
    console.print(f"  chain     {state.rpc_url} (chain id {state.chain_id})")
    console.print(f"  provider  {state.provider_url}  (API docs: {state.provider_url}/docs)")
    console.print(f"  operator  {state.operator_url}")
    console.print(f"  files published from {state.data_root}")
    console.print("  accounts: 1 publisher, 2 consumer (c2d.localchain.dev_keys); each holds 1000 base tokens")


@app.command()
@friendly
def connect(
    provider_url: Annotated[str, typer.Option(help="the deployed provider's URL")],
    rpc_url: Annotated[str, typer.Option(help="its chain's JSON-RPC URL")],
    addresses: Annotated[Path, typer.Option(help="the deployed contracts' addresses.json")],
    data_root: Annotated[Path, typer.Option(help="the provider's data root, as this machine sees it")],
    served_root: Annotated[
        str, typer.Option(help="the same folder as the provider sees it (its C2D_DATA_ROOT), if different")
    ] = "",
    data_dir: DataDir = None,
) -> None:
    """Use a c2d deployed elsewhere (its chain with the local development accounts)."""
    directory = data_dir or embedded.default_data_dir()
    state = embedded.connect(directory, rpc_url, provider_url, addresses, data_root, served_root)
    console.print(f"[green]✔[/] connected to the provider at {state.provider_url} (chain id {state.chain_id})")
    console.print(f"  files published from {state.data_root}")


@app.command()
@friendly
def down(data_dir: DataDir = None) -> None:
    """Stop every process of the stack (its chain state and jobs stay in the directory)."""
    directory = data_dir or embedded.default_data_dir()
    embedded.down(directory)
    console.print(f"[green]✔[/] c2d stopped ({directory})")


@app.command()
@friendly
def restart(
    name: Annotated[str, typer.Argument(help="ganache, provider, operator-service or operator-engine")],
    data_dir: DataDir = None,
) -> None:
    """Start one of the stack's processes again (stopped first if it still runs); its jobs continue."""
    directory = data_dir or embedded.default_data_dir()
    with console.status(f"restarting the {name}"):
        state = embedded.restart(directory, name)
    console.print(f"[green]✔[/] {name} is up again (pid {state.pids[name]})")


@app.command()
@friendly
def status(data_dir: DataDir = None) -> None:
    """Which of the stack's processes run."""
    directory = data_dir or embedded.default_data_dir()
    state = embedded.StackState.load(directory)
    for name, alive in embedded.status(directory).items():
        console.print(f"{'[green]up[/]  ' if alive else '[red]down[/]'} {name}")
    console.print(f"provider {state.provider_url}, chain {state.rpc_url}")

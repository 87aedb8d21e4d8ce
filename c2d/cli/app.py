"""The root `c2d` command and its service commands. Errors are one line and a hint."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from c2d import __version__
from c2d.cli import accounts, compute, market, results, stack
from c2d.cli.common import Session, console, friendly, with_session

app = typer.Typer(
    help="c2d: Compute-to-Data. Pay with datatokens, send the algorithm to the data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # an unexpected error's trace never shows a key or a password
)


@app.command()
def version() -> None:
    """Print c2d's version."""
    console.print(f"c2d {__version__}")


@app.command()
@friendly
def demo() -> None:
    """The whole paid compute flow on a fresh local stack: publish, buy, order, run, result."""
    from c2d.demo import run

    run(console)


@app.command()
@friendly
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
    import os

    from c2d.localchain import deploy_contracts

    deployment = deploy_contracts(rpc_url, addresses, os.environ.get("C2D_DEPLOYER_KEY"))
    for name, address in deployment.addresses.items():
        console.print(f"{name:<18} {address}")


@app.command()
@friendly
def provider(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8030,
) -> None:
    """Run the provider (settings from C2D_* environment variables; see README)."""
    from c2d.provider import create_app, load_settings
    from c2d.serving import serve

    _service_logging()
    settings = load_settings()
    serve(create_app(settings), host, port, settings.connection_limits(), log_level="info")


@app.command("operator-service")
@friendly
def operator_service(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8031,
) -> None:
    """Run the operator service (the job API the provider calls; settings from C2D_*)."""
    from c2d.operator import create_app, load_environments, load_settings
    from c2d.serving import serve

    _service_logging()
    settings = load_settings()
    app = create_app(settings, load_environments(settings.environments_file))
    serve(app, host, port, settings.connection_limits(), log_level="info")


def _service_logging() -> None:
    """c2d's own lines (access log without query strings, warnings) with a time stamp."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@app.command("operator-engine")
@friendly
def operator_engine() -> None:
    """Run the engine that runs jobs (settings from C2D_*; shares the job store with the service).
    Its liveness: `python -m c2d.heartbeat`."""
    from c2d.operator import load_settings, run_engine
    from c2d.operator.executors import ExecutorUnavailable
    from c2d.operator.store import EngineNameTaken

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        run_engine(load_settings())
    except ExecutorUnavailable as exc:
        console.print(f"[red]error:[/] {exc}")
        console.print("[dim]hint: start what it needs, or choose another executor (C2D_EXECUTOR)[/]")
        raise typer.Exit(1) from None
    except EngineNameTaken as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


@app.command()
@friendly
@with_session(default_account=2)
def web(
    open_browser: Annotated[bool, typer.Option("--open", help="open it in this machine's browser")] = False,
    *,
    session: Session,
) -> None:
    """A link to the provider's page of your jobs (signed once here; the page never holds a key)."""
    link = session.consumer.provider.web_link()
    console.print("the page of your jobs (the link works once, within 5 minutes; keep it to yourself):")
    console.out(link)
    if open_browser:
        import webbrowser

        webbrowser.open(link)


def register() -> None:
    app.add_typer(stack.app, name="stack", help="The whole c2d on this machine: up, down, status.")
    app.add_typer(accounts.profile, name="profile", help="Deployments by name: add, list, show, use, remove.")
    app.add_typer(accounts.wallet, name="wallet", help="Your keys, in encrypted keystores: new, import, list, address.")
    app.add_typer(market.publish, name="publish", help="Publish a dataset or an algorithm.")
    app.add_typer(market.tokens, name="tokens", help="Get datatokens: buy or dispense.")
    app.add_typer(compute.app, name="compute", help="Start, follow, stop compute jobs; get results.")
    app.add_typer(compute.env, name="env", help="Compute environments.")
    app.add_typer(results.app, name="results", help="A publisher's record of jobs; approve or reject held results.")


def main() -> None:
    register()
    app()

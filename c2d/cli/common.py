"""What the CLI's commands share: the console, friendly errors, the common options and the
clients of the embedded stack's accounts."""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console

from c2d import stack as embedded
from c2d.chain import ChainError
from c2d.client import ProviderRequestError
from c2d.compute import Consumer, InsufficientDatatokens
from c2d.settings import SettingsError
from c2d.stack import StackError

console = Console()
T = TypeVar("T")

HINTS: list[tuple[type[BaseException], str]] = [
    (StackError, "start one with `c2d stack up`, or name its directory with --data-dir"),
    (InsufficientDatatokens, "get some with `c2d tokens buy DID --amount N` or `c2d tokens dispense`"),
    (ProviderRequestError, "the provider refused; the code above says why"),
    (ChainError, "is the chain up? `c2d stack status`"),
    (httpx.HTTPError, "is the stack up? `c2d stack status`"),
    (SettingsError, "set the variables named above (see README)"),
]


def friendly(command: Callable[..., T]) -> Callable[..., T]:
    """Turns the errors a user can act on into one red line and a hint, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return command(*args, **kwargs)
        except tuple(kind for kind, _ in HINTS) as exc:
            hint = next(h for kind, h in HINTS if isinstance(exc, kind))
            console.print(f"[red]error:[/] {exc}")
            console.print(f"[dim]hint: {hint}[/]")
            raise typer.Exit(1) from None

    return wrapper


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="the stack's directory (default ~/.c2d/stack)")]
Account = Annotated[int, typer.Option(help="local account number (1 publisher, 2 consumer)")]


def clients(data_dir: Path | None, account: int) -> tuple[embedded.StackState, Consumer]:
    state = embedded.StackState.load(data_dir or embedded.default_data_dir())
    chain = state.chain_client(account)
    return state, Consumer(chain, state.client(account))

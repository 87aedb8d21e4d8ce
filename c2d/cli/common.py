"""What the CLI's commands share: the console, friendly errors, and who a command acts as and
where: a profile (a deployment; the embedded stack by default) and a wallet (a keystore,
C2D_PRIVATE_KEY, or on the embedded stack one of its development accounts)."""

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console

from c2d import stack as embedded
from c2d.chain import ChainClient, ChainError, Wallet
from c2d.client import ProviderClient, ProviderRequestError
from c2d.compute import Consumer, InsufficientDatatokens
from c2d.profiles import EMBEDDED, ProfileError, Profiles
from c2d.settings import SettingsError
from c2d.stack import StackError
from c2d.wallets import MAX_KEYSTORE_BYTES, WalletError, Wallets, parse_key

console = Console()
T = TypeVar("T")

HINTS: list[tuple[type[BaseException], str]] = [
    (StackError, "start one with `c2d stack up`, or name its directory with --data-dir"),
    (InsufficientDatatokens, "get some with `c2d tokens buy DID --amount N` or `c2d tokens dispense`"),
    (ProviderRequestError, "the provider refused; the code above says why"),
    (ChainError, "is the chain up? `c2d stack status`"),
    (httpx.HTTPError, "is the stack up? `c2d stack status`"),
    (SettingsError, "set the variables named above (see README)"),
    (
        WalletError,
        "see `c2d wallet list`; a wallet's password comes from a prompt, --password-file or C2D_WALLET_PASSWORD",
    ),
    (ProfileError, "see `c2d profile list`; add one with `c2d profile add NAME --provider-url URL`"),
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


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="the embedded stack's directory (default ~/.c2d/stack)")
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", envvar="C2D_PROFILE", help="the deployment to use (c2d profile list; default: embedded)"),
]
WalletOption = Annotated[
    str | None, typer.Option("--wallet", envvar="C2D_WALLET", help="the wallet to sign with (c2d wallet list)")
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="a file holding the wallet's password (else C2D_WALLET_PASSWORD, or a prompt)"
    ),
]
Account = Annotated[
    int | None,
    typer.Option(help="on the embedded stack without a wallet: its development account (1 publisher, 2 consumer)"),
]


def password(password_file: Path | None, prompt: str = "wallet password", confirm: bool = False) -> str:
    """A wallet's password: from --password-file (its first line), C2D_WALLET_PASSWORD, or a
    prompt that does not echo."""
    if password_file is not None:
        try:
            with password_file.open("rb") as handle:
                text = handle.read(MAX_KEYSTORE_BYTES).decode(errors="strict")
        except (OSError, UnicodeDecodeError):
            raise WalletError(f"the password file {password_file} cannot be read") from None
        return text.splitlines()[0] if text else ""
    given = os.environ.get("C2D_WALLET_PASSWORD")
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise WalletError("no password: give --password-file or set C2D_WALLET_PASSWORD (no terminal to ask on)")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


@dataclass
class Session:
    """Who a command acts as (the consumer's chain client and provider client) and where."""

    profile: str
    consumer: Consumer
    stack: embedded.StackState | None  # the embedded (or connected) stack's, else None

    def close(self) -> None:
        self.consumer.provider.close()

    def publisher_dir(self) -> Path:
        """The folder the embedded stack's provider serves this signer's local files from."""
        if self.stack is None:
            raise typer.BadParameter(
                f"profile {self.profile} has no folder for local files: publish by --url (the provider fetches it)"
            )
        return self.stack.publisher_dir_of(self.consumer.chain.address)


def open_session(
    profile: str | None,
    wallet: str | None,
    password_file: Path | None,
    data_dir: Path | None,
    account: int | None,
    default_account: int,
) -> Session:
    profiles = Profiles()
    name = profile or profiles.default()
    key = _key(wallet, password_file)
    if name == EMBEDDED:
        state = embedded.StackState.load(data_dir or embedded.default_data_dir())
        if key is None:
            key = state.key(account if account is not None else default_account)
        elif account is not None:
            raise typer.BadParameter("give --account or a wallet (--wallet, C2D_PRIVATE_KEY), not both")
        chain = state.chain()
        provider = ProviderClient(state.provider_url, key, provider_address=state.provider_address)
        return Session(name, Consumer(ChainClient(chain, Wallet(chain.w3, key)), provider), state)
    chosen = profiles.get(name)
    if account is not None:
        raise typer.BadParameter("--account names the embedded stack's development accounts: use --wallet")
    if key is None and chosen.wallet:
        key = _key(chosen.wallet, password_file)
    if key is None:
        raise WalletError(f"profile {name} needs a wallet: --wallet NAME, C2D_PRIVATE_KEY, or profile add --wallet")
    chain = chosen.chain()
    provider = ProviderClient(chosen.provider_url, key, provider_address=chosen.provider_address)
    return Session(name, Consumer(ChainClient(chain, Wallet(chain.w3, key)), provider), None)


def _key(wallet: str | None, password_file: Path | None) -> str | None:
    if wallet:
        wallets = Wallets()
        wallets.address(wallet)  # no such wallet: said before a password is asked for
        return wallets.unlock(wallet, password(password_file, f"password of wallet {wallet}"))
    given = os.environ.get("C2D_PRIVATE_KEY")
    return parse_key(given) if given else None


SESSION_OPTIONS = {
    "profile": (ProfileOption, None),
    "wallet": (WalletOption, None),
    "password_file": (PasswordFile, None),
    "data_dir": (DataDir, None),
    "account": (Account, None),
}


def with_session(default_account: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Gives a command the options --profile, --wallet, --password-file, --data-dir and --account,
    and calls it with `session=` the Session they name (closed after it)."""

    def decorate(command: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.name != "session"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, (annotation, default) in SESSION_OPTIONS.items()
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            chosen = {name: kwargs.pop(name) for name in SESSION_OPTIONS}
            session = open_session(**chosen, default_account=default_account)
            try:
                return command(*args, session=session, **kwargs)
            finally:
                session.close()

        wrapper.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{k: v for k, v in command.__annotations__.items() if k != "session"},
            **{name: annotation for name, (annotation, _) in SESSION_OPTIONS.items()},
        }
        return wrapper

    return decorate

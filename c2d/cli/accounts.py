"""`c2d profile add|list|show|use|remove` and `c2d wallet new|import|list|address`."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from c2d.cli.common import PasswordFile, console, friendly, password
from c2d.profiles import EMBEDDED, Profiles
from c2d.wallets import MAX_KEYSTORE_BYTES, WalletError, Wallets

profile = typer.Typer(no_args_is_help=True)
wallet = typer.Typer(no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="letters, digits, '.', '_' or '-'")]


@profile.command("add")
@friendly
def add_profile(
    name: Name,
    provider_url: Annotated[str, typer.Option(help="the deployment's provider (https://…)")],
    rpc_url: Annotated[
        str, typer.Option(help="a JSON-RPC URL of its chain (default: the one the provider names, if it does)")
    ] = "",
    wallet_name: Annotated[str, typer.Option("--wallet", help="the wallet to use with it when none is named")] = "",
    replace: Annotated[bool, typer.Option(help="replace a profile of that name")] = False,
) -> None:
    """Add a deployment: the chain id, the provider's address and the contracts come from the
    provider and are checked on the chain; the provider's address is pinned from now on."""
    if wallet_name:
        Wallets().address(wallet_name)
    added = Profiles().add(name, provider_url, rpc_url, wallet_name, replace)
    console.print(f"[green]✔[/] profile [bold]{added.name}[/]: provider {added.provider_url}, chain {added.chain_id}")
    console.print(f"  provider address {added.provider_address} (pinned)")
    for contract, address in sorted(added.deployment["contracts"].items()):
        console.print(f"  {contract:<18} {address['address']}")


@profile.command("list")
@friendly
def list_profiles() -> None:
    """The profiles, the default one marked."""
    profiles = Profiles()
    default = profiles.default()
    table = Table()
    for column in ("", "name", "provider", "chain", "wallet"):
        table.add_column(column)
    table.add_row("*" if default == EMBEDDED else "", EMBEDDED, "the embedded stack (c2d stack up)", "", "")
    for item in profiles.list():
        table.add_row(
            "*" if default == item.name else "", item.name, item.provider_url, str(item.chain_id), item.wallet
        )
    console.print(table)


@profile.command("show")
@friendly
def show_profile(name: Name) -> None:
    """One profile (its RPC URL is not shown: it may hold an API key)."""
    item = Profiles().get(name)
    console.print(f"{item.name}: provider {item.provider_url} ({item.provider_address}), chain {item.chain_id}")
    console.print(f"  wallet {item.wallet or '(none: name one with --wallet)'}")
    for contract, address in sorted(item.deployment["contracts"].items()):
        console.print(f"  {contract:<18} {address['address']}")


@profile.command("use")
@friendly
def use_profile(name: Name) -> None:
    """Make a profile the default (C2D_PROFILE and --profile still choose another)."""
    Profiles().use(name)
    console.print(f"[green]✔[/] commands now use profile {name}")


@profile.command("remove")
@friendly
def remove_profile(name: Name) -> None:
    """Forget a profile (no wallet is touched)."""
    Profiles().remove(name)
    console.print(f"[green]✔[/] profile {name} removed")


@wallet.command("new")
@friendly
def new_wallet(name: Name, password_file: PasswordFile = None) -> None:
    """A wallet with a fresh random key, in an encrypted keystore (the password is asked twice)."""
    made = Wallets().new(name, password(password_file, f"password for wallet {name}", confirm=True))
    console.print(f"[green]✔[/] wallet {made.name}: {made.address}")
    console.print("  keep its password: without it the keystore cannot be opened")


@wallet.command("import")
@friendly
def import_wallet(
    name: Name,
    key_file: Annotated[Path | None, typer.Option(help="a file holding the private key (hex)")] = None,
    keystore: Annotated[Path | None, typer.Option(help="a V3 keystore (JSON) to copy; its own password")] = None,
    password_file: PasswordFile = None,
) -> None:
    """A wallet of a key you have: from --key-file, a keystore (--keystore), or a prompt."""
    wallets = Wallets()
    if key_file is not None and keystore is not None:
        raise typer.BadParameter("give --key-file or --keystore, not both")
    if keystore is not None:
        made = wallets.import_keystore(name, keystore, password(password_file, f"password of {keystore.name}"))
    else:
        if key_file is not None:
            try:
                with key_file.open("rb") as handle:
                    key = handle.read(MAX_KEYSTORE_BYTES).decode(errors="replace")
            except OSError:
                raise WalletError(f"the key file {key_file} cannot be read") from None
        else:
            key = str(typer.prompt("private key (hex)", hide_input=True))
        made = wallets.import_key(name, key, password(password_file, f"password for wallet {name}", confirm=True))
    console.print(f"[green]✔[/] wallet {made.name}: {made.address}")


@wallet.command("list")
@friendly
def list_wallets() -> None:
    """Your wallets and their addresses."""
    found = Wallets().list()
    if not found:
        console.print("no wallet yet: `c2d wallet new NAME` or `c2d wallet import NAME`")
    for item in found:
        console.print(f"{item.name:<20} {item.address}")


@wallet.command("address")
@friendly
def wallet_address(name: Name) -> None:
    """A wallet's address (no password needed)."""
    console.print(Wallets().address(name))

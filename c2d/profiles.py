"""Profiles: the deployments a user works with, by name.

A profile is a provider's URL and a chain's JSON-RPC URL; the rest (the chain id, the provider's
address, the contracts) is read from the provider's `GET /` when the profile is added, checked
against the chain, and kept in <c2d home>/profiles/<name>.json. The provider's address is pinned
then (trust on first use): every later signature is for that address, so a server that later
claims another provider's address is refused. The profile named `embedded` is the embedded
stack on this machine (`c2d stack up`), the default when no profile is named."""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_utils.address import is_address, to_checksum_address

from c2d.chain import Chain, ChainError, Deployment
from c2d.chain.connection import connect
from c2d.wallets import NAME, home

EMBEDDED = "embedded"
MAX_INFO_BYTES = 1 << 20


class ProfileError(Exception):
    """A profile cannot be added, found or used."""


@dataclass(frozen=True)
class Profile:
    name: str
    provider_url: str
    rpc_url: str
    chain_id: int
    provider_address: str
    deployment: dict[str, Any]  # addresses.json's entry for chain_id
    wallet: str = ""  # the wallet commands use on this profile when none is named

    def chain(self, timeout: float = 10.0) -> Chain:
        w3 = connect(self.rpc_url, timeout)
        if w3.eth.chain_id != self.chain_id:
            raise ProfileError(f"the profile's RPC URL is no longer of chain {self.chain_id}")
        return Chain(w3, Deployment.from_record(self.deployment, self.chain_id, f"profile {self.name}"))


class Profiles:
    def __init__(self, root: Path | None = None) -> None:
        self.home = root or home()
        self.root = self.home / "profiles"

    def _path(self, name: str) -> Path:
        if not NAME.fullmatch(name):
            raise ProfileError(f"{name!r} is not a profile name (letters, digits, '.', '_', '-'; at most 64)")
        return self.root / f"{name}.json"

    def add(self, name: str, provider_url: str, rpc_url: str = "", wallet: str = "", replace: bool = False) -> Profile:
        """Reads what the provider at `provider_url` says of itself, checks it on the chain and
        keeps it as profile `name`."""
        if name == EMBEDDED:
            raise ProfileError(f"{EMBEDDED} is the embedded stack's profile; choose another name")
        path = self._path(name)
        if path.exists() and not replace:
            raise ProfileError(f"a profile named {name} exists already (--replace to replace it)")
        url = provider_url.rstrip("/")
        info = _provider_info(url)
        chain_id = info.get("chainId")
        address = info.get("providerAddress")
        if not isinstance(chain_id, int) or not isinstance(address, str) or not is_address(address):
            raise ProfileError(f"{url} does not look like a c2d provider (no chain id or provider address)")
        rpc = rpc_url or info.get("rpcUrl") or ""
        if not isinstance(rpc, str) or not rpc.startswith(("http://", "https://")):
            raise ProfileError(f"the provider at {url} names no RPC URL for its chain: give --rpc-url")
        try:
            deployment = Deployment.from_record(info.get("deployment"), chain_id, f"the provider at {url}")
            w3 = connect(rpc)
            found = w3.eth.chain_id
        except ChainError as exc:
            raise ProfileError(str(exc)) from None
        if found != chain_id:
            raise ProfileError(f"the RPC URL is of chain {found}; the provider at {url} works on chain {chain_id}")
        empty = [contract for contract, at in deployment.addresses.items() if not w3.eth.get_code(at)]
        if empty:
            raise ProfileError(f"no contract on chain {chain_id} where the provider says {', '.join(empty)} are")
        profile = Profile(name, url, rpc, chain_id, to_checksum_address(address), deployment.record(), wallet)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(profile), indent=2))
        os.replace(temporary, path)
        return profile

    def get(self, name: str) -> Profile:
        path = self._path(name)
        try:
            data = json.loads(path.read_text())
            return Profile(**data)
        except FileNotFoundError:
            raise ProfileError(f"no profile named {name} (c2d profile list)") from None
        except (ValueError, TypeError):
            raise ProfileError(f"the profile {name} is damaged ({path}): add it again") from None

    def list(self) -> list[Profile]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append(self.get(path.stem))
            except ProfileError:
                continue
        return found

    def remove(self, name: str) -> None:
        path = self._path(name)
        if not path.exists():
            raise ProfileError(f"no profile named {name}")
        path.unlink()
        if self.default() == name:
            self.use(EMBEDDED)

    def default(self) -> str:
        """The profile commands use when none is named: C2D_PROFILE, else the one `use` chose."""
        named = os.environ.get("C2D_PROFILE")
        if named:
            return named
        try:
            chosen = json.loads((self.home / "config.json").read_text()).get("profile")
        except (OSError, ValueError, AttributeError):
            return EMBEDDED
        return chosen if isinstance(chosen, str) and chosen else EMBEDDED

    def use(self, name: str) -> None:
        if name != EMBEDDED:
            self.get(name)
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.home / "config.json").write_text(json.dumps({"profile": name}))


def _provider_info(url: str) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise ProfileError(f"{url} is not an http(s) URL")
    try:
        with httpx.stream("GET", url + "/", timeout=10) as response:
            if response.status_code != 200:
                raise ProfileError(f"the provider at {url} answered {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_INFO_BYTES:
                    raise ProfileError(f"{url} answered more than a provider's description")
    except httpx.HTTPError as exc:
        raise ProfileError(f"no provider answers at {url} ({type(exc).__name__})") from None
    try:
        info = json.loads(body)
    except ValueError:
        raise ProfileError(f"{url} does not look like a c2d provider (its / is not JSON)") from None
    if not isinstance(info, dict):
        raise ProfileError(f"{url} does not look like a c2d provider")
    return info

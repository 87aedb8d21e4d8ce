"""Loading a service's settings with one clear error for everything missing or invalid."""

from typing import Annotated, TypeVar

from pydantic import AfterValidator, BeforeValidator, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode

from c2d.signing import address_of

S = TypeVar("S", bound=BaseSettings)


class SettingsError(Exception):
    """Settings missing or invalid; the message names each variable and what is wrong (never
    its value, which may be a key)."""


def load(cls: type[S], what: str, overrides: dict[str, object]) -> S:
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for error in exc.errors():
            name = prefix + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError(f"invalid {what} settings:\n  " + "\n  ".join(problems)) from None


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _private_key(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().removeprefix("0x")
    try:
        if len(bytes.fromhex(text)) != 32:
            raise ValueError
        address_of(text)  # zero or beyond the curve's order is no key
    except Exception:
        raise ValueError("must be a 32-byte hex private key") from None
    return value


def _comma_split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _addresses(value: list[str]) -> list[str]:
    for address in value:
        if not (address.startswith("0x") and len(address) == 42):
            raise ValueError("must be 0x-prefixed 20-byte addresses")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
PrivateKey = Annotated[SecretStr, AfterValidator(_private_key)]
AddressList = Annotated[list[str], NoDecode, BeforeValidator(_comma_split), AfterValidator(_addresses)]
"""Comma-separated addresses in an environment variable."""

"""Loading a service's settings with one clear error for everything missing or invalid."""

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode

from c2d.signing import address_of

if TYPE_CHECKING:
    from c2d.serving import ConnectionLimits

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


def _networks(value: list[str]) -> list[str]:
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ValueError("must be comma-separated IP networks (CIDR)") from None
    return value


NetworkList = Annotated[list[str], NoDecode, BeforeValidator(_comma_split), AfterValidator(_networks)]
"""Comma-separated IP networks (CIDR) in an environment variable."""


def read_key_file(data: object, field: str) -> object:
    """For a settings model's before-validator: `field` (a key) read from the file `field_file`
    names when it is not given itself. The file must be the owner's only (mode 600 or stricter),
    as ssh asks of private keys, or root's and readable by this process's group only (mode 440:
    a Kubernetes Secret's volume with the pod's fsGroup, which sets no other owner)."""
    if not isinstance(data, dict) or data.get(field) or not data.get(f"{field}_file"):
        return data
    path = Path(str(data[f"{field}_file"]))
    try:
        stat = path.stat()
        secret_volume = stat.st_uid == 0 and stat.st_gid == os.getegid() and not stat.st_mode & 0o027
        if stat.st_mode & 0o077 and not secret_volume:
            raise ValueError(f"the file of {field} must be readable by its owner only (chmod 600)")
        return {**data, field: path.read_text().strip()}
    except OSError:
        raise ValueError(f"the file of {field} cannot be read") from None


class HttpLimitSettings(BaseSettings):
    """What every c2d HTTP service bounds per connection (see c2d.serving)."""

    header_timeout: float = Field(default=10.0, gt=0, description="seconds a request's line and headers may take")
    body_timeout: float = Field(default=60.0, gt=0, description="seconds a request's body may take after its headers")
    max_header_bytes: int = Field(default=16 << 10, ge=1024, description="largest request line and headers")
    max_connections: int = Field(default=2000, ge=1, description="connections and requests at once; beyond: 503")
    metrics: bool = Field(default=True, description="serve Prometheus metrics at /metrics and count requests")

    def connection_limits(self) -> "ConnectionLimits":
        from c2d.serving import ConnectionLimits

        return ConnectionLimits(
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            max_header_bytes=self.max_header_bytes,
            max_connections=self.max_connections,
        )

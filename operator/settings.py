"""The operator's settings (service and engine), from environment variables (prefix C2D_)."""

from pathlib import Path
from typing import Annotated, Literal

from eth_account import Account
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from c2d.settings import load


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C2D_", extra="ignore", frozen=True)

    operator_database_url: str = Field(default="sqlite:///operator.db", description="SQLAlchemy URL of the job store")
    jobs_dir: Path = Field(description="where jobs' working directories and results live")
    operator_providers: Annotated[list[str], NoDecode] = Field(
        description="comma-separated addresses of the providers allowed to call the operator service"
    )
    operator_key: SecretStr = Field(description="the operator's key: signs the configure stage's input requests")
    provider_url: str = Field(description="the provider the configure stage fetches inputs from")
    environments_file: Path | None = Field(default=None, description="JSON list of environments")
    executor: Literal["local"] = "local"
    results_ttl: int = Field(default=7 * 24 * 3600, ge=60, description="seconds results are kept after a job ends")
    poll_interval: float = Field(default=0.05, gt=0, description="seconds between two looks at the job store")

    @field_validator("operator_providers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("operator_providers")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one provider address")
        for address in value:
            if not (address.startswith("0x") and len(address) == 42):
                raise ValueError("must be 0x-prefixed 20-byte addresses")
        return value

    @field_validator("operator_key")
    @classmethod
    def _private_key(cls, value: SecretStr) -> SecretStr:
        try:
            Account.from_key(value.get_secret_value())
        except Exception:
            raise ValueError("must be a 32-byte hex private key") from None
        return value

    @field_validator("provider_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("jobs_dir")
    @classmethod
    def _directory(cls, value: Path) -> Path:
        value.mkdir(parents=True, exist_ok=True)
        return value.resolve()


def load_settings(**overrides: object) -> OperatorSettings:
    """Reads the settings; raises SettingsError listing every bad variable (never its value)."""
    return load(OperatorSettings, "operator", overrides)

"""The provider's settings, from environment variables (prefix C2D_)."""

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from c2d.settings import AddressList, HttpLimitSettings, HttpUrl, NetworkList, PrivateKey, load, read_key_file

DEVELOPMENT_CHAINS = frozenset({1337, 31337})  # Ganache, Hardhat/Anvil: one miner, no reorganisation
SAFE_CONFIRMATIONS = 12


class ProviderSettings(HttpLimitSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C2D_", extra="ignore", frozen=True)

    rpc_url: HttpUrl = Field(description="the chain's JSON-RPC URL")
    chain_id: int = Field(gt=0, description="the chain id the contracts were deployed on")
    provider_key: PrivateKey = Field(description="the provider's private key (hex): decrypts files, signs")
    provider_key_file: Path | None = Field(
        default=None, description="a file holding provider_key (mode 600), read when provider_key is not set"
    )
    addresses_file: Path = Field(description="addresses.json written by the deploy script")
    operator_url: HttpUrl = Field(description="base URL of the operator service")
    data_root: Path = Field(description="file:// URLs must point inside this directory")
    provider_database_url: str = Field(
        default="sqlite:///provider.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://...",
    )
    provider_database_url_file: Path | None = Field(
        default=None,
        description="a file holding provider_database_url (mode 600, or a Secret's 440) when it is not set: "
        "a URL with a password stays out of the environment",
    )
    provider_url: HttpUrl = Field(default="http://127.0.0.1:8030", description="the provider's public base URL")
    public_rpc_url: HttpUrl | None = Field(
        default=None,
        description="a JSON-RPC URL of the chain that clients may use, shown in GET / (never rpc_url itself: "
        "it may hold an API key)",
    )
    order_confirmations: int | None = Field(
        default=None,
        ge=0,
        description="blocks on top of an order before it counts; if unset, 0 on a development chain "
        "(chain id 1337 or 31337) and 12 on any other",
    )
    order_uses: int = Field(default=1, ge=1, description="how many jobs or downloads one order pays for")
    index_interval: float = Field(default=1.0, gt=0, description="seconds between two looks for new DDOs")
    http_timeout: float = Field(default=30.0, gt=0, description="timeout of the provider's own HTTP requests")
    admission_grace: float = Field(
        default=200.0,
        gt=0,
        description="seconds after which a job whose creation was never confirmed (the provider crashed, an "
        "answer was lost) is settled: kept if the operator service has it, else its orders' uses are given "
        "back; longer than any job creation can take (twice http_timeout: to connect, then to answer)",
    )
    max_raw_algorithm_bytes: int = Field(default=1_000_000, gt=0)
    allow_private_urls: bool = Field(
        default=False, description="let http(s) file URLs point at loopback or private-network hosts"
    )
    rate_limit: int = Field(
        default=600, ge=0, description="requests a minute per client (0: no limit); beyond: 429 with Retry-After"
    )
    rate_burst: int = Field(default=120, ge=1, description="requests a client may send at once, within rate_limit")
    trusted_proxies: NetworkList = Field(
        default=[], description="comma-separated networks of proxies whose X-Forwarded-For names the client"
    )
    operator_addresses: AddressList = Field(
        default=[], description="comma-separated addresses of operators whose configure stages may fetch job inputs"
    )

    def confirmations(self) -> int:
        if self.order_confirmations is not None:
            return self.order_confirmations
        return 0 if self.chain_id in DEVELOPMENT_CHAINS else SAFE_CONFIRMATIONS

    @model_validator(mode="before")
    @classmethod
    def _key_file(cls, data: object) -> object:
        return read_key_file(read_key_file(data, "provider_key"), "provider_database_url")

    @field_validator("addresses_file")
    @classmethod
    def _existing_file(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError("no such file")
        return value

    @field_validator("data_root")
    @classmethod
    def _existing_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError("no such directory")
        return value.resolve()


def load_settings(**overrides: object) -> ProviderSettings:
    """Reads the settings; raises SettingsError listing every bad variable (never its value)."""
    return load(ProviderSettings, "provider", overrides)

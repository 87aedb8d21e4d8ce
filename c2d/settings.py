"""Loading a service's settings with one clear error for everything missing or invalid."""

from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

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

"""Compiled contracts (ABI and bytecode) from brownie's build directory."""

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from c2d.chain.errors import ArtifactMissing

_REPO_BUILD = Path(__file__).resolve().parents[2] / "contracts" / "build" / "contracts"


def artifacts_dir() -> Path:
    """`$C2D_ARTIFACTS_DIR`, or the checkout's contracts/build/contracts."""
    return Path(os.environ.get("C2D_ARTIFACTS_DIR", _REPO_BUILD))


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def _load(directory: Path, name: str) -> Artifact:
    path = directory / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactMissing(f"no compiled contract {name} in {directory} (run `make contracts`)") from None
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])


def load_artifact(name: str) -> Artifact:
    return _load(artifacts_dir(), name)

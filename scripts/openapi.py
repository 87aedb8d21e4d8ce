"""The OpenAPI documents of the provider and the operator service, as committed under docs/.

    python scripts/openapi.py            write docs/provider.openapi.json and docs/operator.openapi.json
    python scripts/openapi.py --check    exit 1, naming the document, when an app's schema differs

Each app is built with throwaway settings (nothing is started, no chain is called): its routes
and models are its document. tests/test_openapi.py runs the check in `make test`."""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from eth_account import Account

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def provider_schema(scratch: Path) -> dict[str, Any]:
    from c2d.provider import create_app, load_settings

    addresses = scratch / "addresses.json"
    addresses.write_text("{}")
    (scratch / "data").mkdir()
    settings = load_settings(
        rpc_url="http://127.0.0.1:8545",
        chain_id=1337,
        provider_key=Account.create().key.hex(),
        addresses_file=addresses,
        operator_url="http://127.0.0.1:8031",
        data_root=scratch / "data",
        provider_database_url=f"sqlite:///{scratch / 'provider.db'}",
    )
    return create_app(settings).openapi()


def operator_schema(scratch: Path) -> dict[str, Any]:
    from c2d.operator import create_app, load_environments, load_settings

    settings = load_settings(
        jobs_dir=scratch / "jobs",
        operator_database_url=f"sqlite:///{scratch / 'operator.db'}",
        operator_providers=Account.create().address,
        provider_url="http://127.0.0.1:8030",
    )
    return create_app(settings, load_environments(None)).openapi()


def documents() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        provider_dir, operator_dir = Path(scratch, "provider"), Path(scratch, "operator")
        provider_dir.mkdir()
        operator_dir.mkdir()
        schemas = {"provider": provider_schema(provider_dir), "operator": operator_schema(operator_dir)}
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in schemas.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in documents().items():
        path = DOCS / f"{name}.openapi.json"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(REPO))
        else:
            DOCS.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    for path in stale:
        print(f"{path} differs from the app's schema: run `python scripts/openapi.py` and commit it", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

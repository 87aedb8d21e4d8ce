"""The committed OpenAPI documents (docs/) are the apps' own: a route or model changed without
its document fails here (regenerate with `python scripts/openapi.py`)."""

import json
import subprocess
import sys

from stacks import REPO


def test_the_committed_documents_are_the_apps_schemas():
    done = subprocess.run(
        [sys.executable, "scripts/openapi.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_check_fails_when_a_document_differs(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import openapi
    finally:
        sys.path.pop(0)
    copy = tmp_path / "docs"
    copy.mkdir()
    for name in ("provider", "operator"):
        document = json.loads((REPO / "docs" / f"{name}.openapi.json").read_text())
        (copy / f"{name}.openapi.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    monkeypatch.setattr(openapi, "DOCS", copy)
    monkeypatch.setattr(openapi, "REPO", tmp_path)
    assert openapi.main(["--check"]) == 0
    provider = json.loads((copy / "provider.openapi.json").read_text())
    provider["paths"].pop("/api/services/computeLogs")  # a route the document lost
    (copy / "provider.openapi.json").write_text(json.dumps(provider, indent=2, sort_keys=True) + "\n")
    assert openapi.main(["--check"]) == 1


def test_the_documents_describe_the_signed_routes():
    provider = json.loads((REPO / "docs" / "provider.openapi.json").read_text())
    assert {"/api/services/compute", "/api/services/computeLogs", "/api/services/nonce"} <= set(provider["paths"])
    logs = provider["paths"]["/api/services/computeLogs"]["get"]
    assert {p["name"] for p in logs["parameters"]} >= {"consumerAddress", "jobId", "nonce", "expiry", "signature"}
    operator = json.loads((REPO / "docs" / "operator.openapi.json").read_text())
    assert "/api/v1/operator/compute" in operator["paths"]

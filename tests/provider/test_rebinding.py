"""DNS rebinding: a published URL's name answers a public address when the provider checks it
and an internal one when it connects. The provider must resolve once, check every address and
connect to the one it checked.

The test runs in a network namespace of its own (`unshare --net`): only `lo` exists there, with
127.0.0.1 (the "internal" service) and 44.0.0.1 (a global address that, in this namespace,
leads to a "public" file server on the same `lo`). No packet can leave the namespace."""

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    r"""
    import asyncio, json, socket, subprocess, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "44.0.0.1/32", "dev", "lo"], check=True)

    hits = {"public": [], "internal": []}

    def server(address, name, body):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits[name].append(self.headers.get("Host"))
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            do_HEAD = do_GET
            def log_message(self, *args):
                pass
        httpd = ThreadingHTTPServer((address, 8080), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()

    server("44.0.0.1", "public", b"public data")
    server("127.0.0.1", "internal", b"INTERNAL SECRET")

    answers = {"first": sys.argv[1], "then": sys.argv[2]}
    calls = []
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if (host.decode() if isinstance(host, bytes) else host) != "files.rebind.test":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        address = answers["first"] if len(calls) == 1 else answers["then"]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

    socket.getaddrinfo = rebinding

    from c2d.provider.crypto import FileSpec
    from c2d.provider.errors import ProviderError
    from c2d.provider.files import FileReader, file_client

    async def main():
        client = file_client(10, allow_private=False)
        reader = FileReader(Path("/nonexistent"), client, allow_private=False)
        spec = FileSpec(index=0, url="http://files.rebind.test:8080/data.csv")
        try:
            digest = await reader.sha256(spec, "0x" + "12" * 20)
            outcome = {"fetched": digest}
        except ProviderError as exc:
            outcome = {"refused": exc.code}
        finally:
            await client.aclose()
        return outcome

    outcome = asyncio.run(main())
    print(json.dumps({**outcome, "hits": hits, "resolutions": len(calls)}))
    """
)


def run_in_namespace(first: str, then: str) -> dict:
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", SCRIPT, first, then],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")


def test_a_name_that_rebinds_to_loopback_reaches_only_the_checked_address():
    outcome = run_in_namespace("44.0.0.1", "127.0.0.1")
    assert outcome["hits"]["internal"] == [], outcome  # the internal service was never reached
    assert outcome["fetched"] == hashlib.sha256(b"public data").hexdigest(), outcome
    assert outcome["hits"]["public"] == ["files.rebind.test:8080"]  # the Host header names the URL's host
    assert outcome["resolutions"] == 1


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "100.100.100.200", "10.1.2.3"])
def test_a_name_that_resolves_to_a_forbidden_address_is_refused_before_connecting(address):
    outcome = run_in_namespace(address, address)
    assert outcome.get("refused") == "file_not_allowed", outcome
    assert outcome["hits"] == {"public": [], "internal": []}

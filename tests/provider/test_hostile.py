"""Hostile HTTP clients against the provider and the operator service as real processes: bodies
nested, huge or slow, huge headers, slow connections, floods from one client, and signatures
in access logs. Each service must answer with a clear error, stay up, and stay small."""

import json
import socket
import time

import httpx
import pytest
from eth_account import Account

from c2d.signing import signed_headers
from servers import ServiceProcess, make_settings, provider_env

DEEP = b"[" * 100_000 + b"]" * 100_000
PAGE_TOKEN = "the hostile tests' page token"


@pytest.fixture(scope="module")
def provider_process(ganache, addresses_file, provider_root, provider_key, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-provider")
    settings = make_settings(ganache, addresses_file, provider_root, folder / "p.db", provider_key)
    env = {
        **provider_env(settings),
        "C2D_HEADER_TIMEOUT": "2",
        "C2D_BODY_TIMEOUT": "2",
        "C2D_RATE_LIMIT": "0",
    }
    service = ServiceProcess("provider", env, folder / "provider.log").start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def operator_process(keys, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-operator")
    env = {
        "C2D_JOBS_DIR": str(folder / "jobs"),
        "C2D_OPERATOR_DATABASE_URL": f"sqlite:///{folder / 'operator.db'}",
        "C2D_OPERATOR_PROVIDERS": Account.from_key(keys[9]).address,
        "C2D_OPERATOR_KEY": keys[8],
        "C2D_PROVIDER_URL": "http://127.0.0.1:9",
        "C2D_HEADER_TIMEOUT": "2",
        "C2D_BODY_TIMEOUT": "2",
        "C2D_PUBLISHER_PAGE_TOKEN": PAGE_TOKEN,
    }
    service = ServiceProcess("operator-service", env, folder / "operator.log").start("/healthz")
    yield service
    service.stop()


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json", **(headers or {})}, timeout=30)


def test_deeply_nested_json_is_refused_and_the_services_stay_up(provider_process, operator_process, keys):
    # 200 KB: within the limits of /compute and /encrypt (refused for its depth), beyond /fileinfo's.
    expected = {
        "compute": (400, "invalid_request"),
        "encrypt": (400, "invalid_request"),
        "fileinfo": (413, "body_too_large"),
    }
    for route, answer in expected.items():
        response = _post(f"{provider_process.url}/api/services/{route}", DEEP)
        assert (response.status_code, response.json()["error"]) == answer, (route, response.text)
    # Within the size limit, nested beyond the depth limit: refused before parsing.
    response = _post(provider_process.url + "/api/services/fileinfo", b"[" * 5000 + b"]" * 5000)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert "nests deeper" in response.json()["message"]
    # Brackets inside strings are not nesting: a valid body still reaches its route.
    response = _post(provider_process.url + "/api/services/fileinfo", json.dumps({"did": "[" * 5000}).encode())
    assert response.status_code == 422
    assert provider_process.alive()
    assert httpx.get(provider_process.url + "/").status_code == 200

    path = "/api/v1/operator/compute"
    provider_key, provider = keys[9], Account.from_key(keys[9]).address
    headers = signed_headers(provider_key, provider, "POST", path, DEEP, time.time_ns())
    response = _post(operator_process.url + path, DEEP, headers)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert operator_process.alive()
    assert httpx.get(operator_process.url + "/healthz").status_code == 200


def _raw(url: str, head: bytes, body: bytes = b"", source: str = "127.0.0.1") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30, source_address=(source, 0))
    sock.sendall(head + body)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """One whole answer (head and its Content-Length of body)."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")), 0
    )
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    sock.close()
    return head + b"\r\n\r\n" + body


def _closes(answer: bytes) -> bool:
    return b"\r\nconnection: close\r\n" in answer.lower()


def test_a_large_body_is_refused_before_it_is_read(provider_process):
    before = provider_process.rss_mb()
    size = 96 << 20
    head = b"POST /api/services/compute HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    sock = _raw(provider_process.url, head + b"content-length: %d\r\n\r\n" % size)
    answer = _answer(sock)  # the provider answers and closes without waiting for 96 MB
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"body_too_large" in answer and _closes(answer)

    # Without a length (chunked), the body is cut off at the limit.
    sock = _raw(provider_process.url, head + b"transfer-encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
    answer = b""
    try:
        for _ in range(96):
            sock.sendall(chunk)
    except OSError:  # closed by the provider once the limit was passed
        pass
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _closes(answer)
    grown = provider_process.rss_mb() - before
    print(f"\nRSS growth after two 96 MB bodies: {grown:.1f} MB")
    assert grown < 20, grown
    assert provider_process.alive()


def test_the_operator_checks_signature_headers_before_reading_a_body(operator_process):
    # An unsigned request announcing 8 MB gets its 401 at once, the body never sent.
    head = b"POST /api/v1/operator/compute HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    answer = _answer(_raw(operator_process.url, head + b"content-length: %d\r\n\r\n" % (8 << 20)))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"unsigned_request" in answer and _closes(answer)
    # A signer not on the allow-list, the same.
    stranger = Account.create()
    fake = b"c2d-signer: %s\r\nc2d-nonce: 5\r\nc2d-signature: 0x%s\r\n" % (stranger.address.encode(), b"11" * 65)
    answer = _answer(_raw(operator_process.url, head + fake + b"content-length: %d\r\n\r\n" % (8 << 20)))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"signer_not_allowed" in answer and _closes(answer)


def test_malformed_http_gets_a_json_error(provider_process, operator_process):
    for service in (provider_process, operator_process):
        for head in (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n", b"\x00\xff junk\r\n\r\n"):
            answer = _answer(_raw(service.url, head))
            assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
            assert answer.endswith(b'{"error": "invalid_http", "message": "the request is not valid HTTP/1.1"}'), answer
        assert service.alive()


def test_oversized_headers_are_refused(provider_process, operator_process):
    for service in (provider_process, operator_process):
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 << 10) + b"\r\n\r\n"
        answer = _answer(_raw(service.url, head))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert service.alive()


def test_slow_connections_are_closed_after_the_timeout(provider_process):
    """300 connections that trickle their headers, and 20 that trickle a body: all are closed by
    the provider within its timeouts (2 s each here)."""
    slow_heads = [_raw(provider_process.url, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(300)]
    body_head = b"POST /api/services/fileinfo HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    slow_bodies = [
        _raw(provider_process.url, body_head + b"content-length: 1000\r\n\r\n", b'{"did": ') for _ in range(20)
    ]
    started = time.monotonic()
    open_ = set(range(len(slow_heads) + len(slow_bodies)))
    sockets = slow_heads + slow_bodies
    for sock in sockets:
        sock.settimeout(0.05)
    while open_ and time.monotonic() - started < 15:
        for i in list(open_):
            try:
                data = sockets[i].recv(4096)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                open_.discard(i)
                sockets[i].close()
    closed_after = time.monotonic() - started
    print(f"\n{len(sockets) - len(open_)} of {len(sockets)} slow connections closed after {closed_after:.1f} s")
    assert not open_, f"{len(open_)} slow connections still open after {closed_after:.1f} s"
    assert provider_process.alive()
    assert httpx.get(provider_process.url + "/").status_code == 200


def test_each_client_is_rate_limited(ganache, addresses_file, provider_root, provider_key, tmp_path):
    settings = make_settings(ganache, addresses_file, provider_root, tmp_path / "p.db", provider_key)
    env = {**provider_env(settings), "C2D_RATE_LIMIT": "60", "C2D_RATE_BURST": "5"}
    service = ServiceProcess("provider", env, tmp_path / "provider.log").start()
    try:
        # start() spent some of 127.0.0.1's burst: 127.0.0.2 starts afresh.
        statuses = []
        for _ in range(8):
            sock = _raw(
                service.url,
                b"GET /api/services/nonce?userAddress=0x"
                + b"12" * 20
                + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                source="127.0.0.2",
            )
            statuses.append(_answer(sock))
        codes = [int(a.split(b" ")[1]) for a in statuses]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3, codes
        limited = statuses[-1]
        assert b"retry-after: 1" in limited.lower()
        assert b'"error":"rate_limited"' in limited.replace(b" ", b"")
        # Another client is not held back by the first.
        sock = _raw(service.url, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", source="127.0.0.3")
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        time.sleep(1.1)  # one token a second
        sock = _raw(service.url, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", source="127.0.0.2")
        assert _answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        service.stop()


def test_access_log_lines_carry_no_signature(provider_process, keys):
    signature = "0x" + "ab" * 65
    params = {
        "consumerAddress": Account.from_key(keys[2]).address,
        "nonce": 7,
        "expiry": int(time.time()) + 60,
        "signature": signature,
        "jobId": "some-job",
    }
    response = httpx.get(provider_process.url + "/api/services/compute", params=params)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")  # logged all the same
    time.sleep(0.3)
    log = provider_process.log_path.read_text()
    assert "GET /api/services/compute " in log  # the line is there, without its query
    assert "ab" * 65 not in log and "signature=" not in log


def _refused_with_a_code(response, statuses):
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error", "message"}, body


def test_the_pages_sign_in_and_reads_refuse_hostile_input(provider_process, operator_process):
    """The provider's /ui/session and session reads, and the operator's page: malformed, deeply
    nested, huge, non-UTF-8 bodies, forged and oversized cookies, paths out of the page."""
    bodies = [
        b"not json", b"{}", b"[]", DEEP, b"\xff\xfe\x00{", b'{"consumerAddress": 5}',
        json.dumps({"consumerAddress": "0x" + "1" * 40, "nonce": 1, "expiry": 1, "signature": "0x00"}).encode(),
        b'{"token": "' + b"x" * 2000 + b'"}',
    ]  # fmt: skip
    headers = {"content-type": "application/json"}
    for url in (provider_process.url, operator_process.url):
        for body in bodies:
            _refused_with_a_code(
                httpx.post(f"{url}/ui/session", content=body, headers=headers, timeout=10), range(400, 423)
            )
        huge = httpx.post(f"{url}/ui/session", content=b"{" + b" " * (1 << 20) + b"}", headers=headers, timeout=10)
        _refused_with_a_code(huge, {413})
        for cookie in ("", "x", "1" * 99 + ".", "9999999999.abc", "é" * 50, "a" * 4000):
            cookies = {"c2d_session": cookie, "c2d_publisher": cookie}
            jobs = httpx.get(f"{url}/ui/api/jobs", headers={"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()},
                             timeout=10)  # fmt: skip
            _refused_with_a_code(jobs, {400, 401})
        for path in ("/ui/..%2f..%2fetc%2fpasswd", "/ui/%00", "/ui/app.js%00.html", "/ui/" + "a" * 5000):
            assert httpx.get(url + path, timeout=10).status_code in (404, 414, 431, 400), path
        assert httpx.get(f"{url}/ui/", timeout=10).headers["content-security-policy"].startswith("default-src 'none'")
    # the provider's session reads want their parameters, and a session; the operator's page its token
    _refused_with_a_code(httpx.get(f"{provider_process.url}/ui/api/logs", timeout=10), {401, 422})
    _refused_with_a_code(httpx.get(f"{provider_process.url}/ui/api/result?jobId=x&index=-1", timeout=10), {401, 422})
    wrong = httpx.post(f"{operator_process.url}/ui/session", json={"token": PAGE_TOKEN[:-1]}, timeout=10)
    _refused_with_a_code(wrong, {401})
    right = httpx.post(f"{operator_process.url}/ui/session", json={"token": PAGE_TOKEN}, timeout=10)
    assert right.status_code == 200 and "httponly" in right.headers["set-cookie"].lower()
    assert provider_process.alive() and operator_process.alive()

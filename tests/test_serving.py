"""c2d.serving's pieces on their own: JSON depth, rate buckets, the client behind a proxy."""

import ipaddress
import json

from c2d.serving import RateLimiter, client_address, json_depth


def test_json_depth_counts_nesting_not_brackets_in_strings():
    assert json_depth(b"{}") == 1
    assert json_depth(json.dumps({"a": [1, {"b": [[2]]}]}).encode()) == 5
    assert json_depth(json.dumps({"a": "[[[[{{{{", "b": [']]]\\"[[[']}).encode()) == 2
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000
    # An unterminated string runs to the end; a quote inside is escaped: neither is a bracket.
    assert json_depth(b'["' + b'\\"[' * 50_000) == 1


def test_rate_limiter_refills_and_forgets_the_oldest_clients():
    limiter = RateLimiter(per_minute=60, burst=2, max_clients=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0, 0, 1.0]
    assert limiter.take("a", now=1.0) == 0  # one token a second
    for client in ("b", "c", "d"):
        limiter.take(client, now=1.0)
    assert len(limiter.buckets) == 3 and "a" not in limiter.buckets


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies():
    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    forwarded = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.9, 10.1.1.1")]
    # The peer is a trusted proxy: the last hop that is not one of them is the client.
    assert client_address({"client": ("10.0.0.5", 1), "headers": forwarded}, proxies) == "203.0.113.9"
    # Anyone else's X-Forwarded-For is ignored.
    assert client_address({"client": ("198.51.100.7", 1), "headers": forwarded}, proxies) == "198.51.100.7"
    assert client_address({"client": ("10.0.0.5", 1), "headers": forwarded}, []) == "10.0.0.5"


def test_c2d_clients_let_go_of_idle_connections_well_before_a_service_closes_them():
    """Found by the load benchmark: the provider's client of the operator service kept idle
    connections as long as the service did (5 s), sent on ones the service was just closing, and
    answered status calls 503 "did not answer in time" after 50 ms."""
    from c2d.client import CLIENT_KEEPALIVE, client_limits
    from c2d.serving import ConnectionLimits

    assert client_limits().keepalive_expiry == CLIENT_KEEPALIVE <= ConnectionLimits().keep_alive / 2

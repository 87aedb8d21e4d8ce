"""No route answers 500 to malformed input: schemathesis generates requests from the
provider's OpenAPI schema (every operation; requests that fit the schema and requests that do
not), hypothesis drives them to the running provider."""

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

EXAMPLES_PER_OPERATION = 40


def fuzz(operation, base_url: str, mode: GenerationMode) -> int:
    """Sends the operation's generated requests; returns how many were sent."""
    label = f"{operation.method.upper()} {operation.path}"
    sent = 0

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        nonlocal sent
        sent += 1
        response = case.call(base_url=base_url)
        # 503 is the documented answer while the operator service is not running (as here).
        if response.status_code != 503:
            case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "message"}, (label, response.text)

    try:
        check()
    except Unsatisfiable:
        assert mode == GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
    return sent


def test_no_route_answers_500_to_generated_requests(provider_server, request):
    schema = schemathesis.openapi.from_dict(httpx.get(provider_server.url + "/openapi.json").json())
    sent = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            sent[f"{operation.method.upper()} {operation.path} {mode}"] = fuzz(operation, provider_server.url, mode)
    positive = {k: v for k, v in sent.items() if k.endswith("positive")}
    assert len(positive) >= 12 and all(positive.values()), sent
    assert sum(sent.values()) > sum(positive.values()), "no invalid request was generated"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    reporter.write_line(
        f"\nschemathesis: {sum(sent.values())} generated requests ({len(sent) // 2} operations, valid and invalid), no 500"
    )


HOSTILE_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,  # nesting that overflowed the C stack of the JSON parser
    b'{"a":' * 40 + b"1" + b"}" * 40,  # beyond the depth limit, small
    b"\xff\xfe\x00garbage",  # not UTF-8
    b'{"consumerAddress": "' + b"\\u0000" * 5000 + b'"}',
    b"x" * (3 << 20),  # beyond every route's limit
    b"",
]


def test_hostile_bodies_get_clear_errors_on_every_route_that_takes_one(provider_server):
    """Beyond the schema: bodies built to crash or exhaust a parser, sent to every operation
    that takes a body, as JSON and as other content types."""
    schema = httpx.get(provider_server.url + "/openapi.json").json()
    sent = 0
    with httpx.Client(base_url=provider_server.url, timeout=30) as client:
        for path, operations in schema["paths"].items():
            for method in operations:
                if method not in ("post", "put"):
                    continue
                for body in HOSTILE_BODIES:
                    for content_type in ("application/json", "text/plain"):
                        response = client.request(method, path, content=body, headers={"content-type": content_type})
                        sent += 1
                        assert response.status_code < 500 or response.status_code == 503, (path, response.text[:300])
                        assert set(response.json()) == {"error", "message"}, (path, response.text[:300])
    assert sent >= 36
    assert httpx.get(provider_server.url + "/").status_code == 200

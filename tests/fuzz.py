"""Stateful fuzzing of the provider's and the operator service's APIs on a whole embedded stack.

schemathesis builds a state machine from each service's OpenAPI document (docs/*.openapi.json)
and its links (a job started → its status, logs, results, stop, delete) and hypothesis drives it:
requests that fit the schema and requests that do not. So that generated requests reach past the
signature check, most are signed as a real client would sign them (the provider's: the
consumer's or the publisher's EIP-712 signature over the generated parameters; the operator
service's: the provider's key over the request as sent), and many name what exists: a real
dataset with a fresh order and a small raw algorithm for a job start, a job started before, its
owner. Every answer is checked: never a 5xx, every 4xx exactly {"error", "message"}; the
services stay up.

tests/compute/test_fuzz_stateful.py runs a small number in `make test`; bench/fuzz.py runs more
than 10,000 requests.
"""

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from chaos import ChaosStack
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import Flaky

from c2d import stack as embedded
from c2d.assets import COMPUTE_SERVICE_ID
from c2d.compute import DEFAULT_CONTAINER
from c2d.signing import SIGNATURE_FIELDS, NonceClock, address_of, signed_headers

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOOP = {"meta": {"rawcode": "print('fuzzed')\n", "container": DEFAULT_CONTAINER}}
SIGNED = 0.85  # of the requests that could carry a signature: how many get a valid one
REAL = 0.5  # of those naming a dataset, job or owner: how many name a real one
# The provider's signed operations: the action, where its parameters are, who signs.
PROVIDER_ACTIONS = {
    ("DELETE", "/api/services/compute"): ("computeDelete", "query", "consumerAddress"),
    ("GET", "/api/services/compute"): ("computeStatus", "query", "consumerAddress"),
    ("POST", "/api/services/compute"): ("computeStart", "body", "consumerAddress"),
    ("PUT", "/api/services/compute"): ("computeStop", "body", "consumerAddress"),
    ("POST", "/api/services/computeApproval"): ("computeApproval", "body", "publisherAddress"),
    ("GET", "/api/services/computeLogs"): ("computeLogs", "query", "consumerAddress"),
    ("GET", "/api/services/computeRecord"): ("computeRecord", "query", "publisherAddress"),
    ("GET", "/api/services/computeResult"): ("computeResult", "query", "consumerAddress"),
    ("GET", "/api/services/download"): ("download", "query", "consumerAddress"),
    ("POST", "/api/services/encrypt"): ("encrypt", "body", "publisherAddress"),
}


@dataclass
class Tally:
    """Every answer, by service and status, and each one that broke a rule."""

    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)  # ids of jobs started, to name again
    flaky_suites: int = 0

    def record(self, service: str, case: Any, response: Any) -> None:
        status = response.status_code
        self.statuses[f"{service} {status}"] += 1
        label = f"{service} {case.method.upper()} {case.path}"
        if status >= 500:
            self.failures.append(f"{label}: {status} {response.text[:300]}")
        elif status >= 400:
            try:
                shape = set(json.loads(response.content))
            except (ValueError, TypeError):
                shape = None
            if shape != {"error", "message"}:
                self.failures.append(f"{label}: {status} without {{error, message}}: {response.text[:300]}")
        elif (case.method.upper(), case.path) in (
            ("POST", "/api/services/compute"),
            ("POST", "/api/v1/operator/compute"),
        ):
            self.jobs += [str(job["jobId"]) for job in response.json() if isinstance(job, dict) and "jobId" in job]

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


SUITE = settings(
    max_examples=50,
    stateful_step_count=10,
    phases=[Phase.generate],  # the services' state changes under every replay: no shrinking
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def drive(machine: Any, tally: Tally, requests_wanted: int, rng: random.Random) -> None:
    """Runs suites of the state machine until it has sent `requests_wanted` requests. A suite
    that hypothesis ends as flaky (the same choices met other answers: the services remember
    what earlier suites did) is followed by a fresh one, as schemathesis's own runner does."""
    start = tally.requests
    while tally.requests - start < requests_wanted:
        try:
            seed(rng.randrange(1 << 32))(machine).run(settings=SUITE)
        except Flaky:
            tally.flaky_suites += 1


def provider_machine(stack: ChaosStack, tally: Tally, rng: random.Random, orders: list[str]) -> Any:
    """The provider's state machine on `stack`; `orders`: unused orders of its dataset, taken
    by the job starts made real."""
    schema = schemathesis.openapi.from_dict(json.loads((DOCS / "provider.openapi.json").read_text()))
    consumer, publisher = stack.state.client(embedded.CONSUMER), stack.state.client(embedded.PUBLISHER)
    url = stack.state.provider_url

    def sign(case: Any) -> None:
        action = PROVIDER_ACTIONS.get((case.method.upper(), case.path))
        if action is None or rng.random() > SIGNED:
            return
        name, where, address_field = action
        generated = case.query if where == "query" else case.body
        if not isinstance(generated, dict):
            return
        params = {k: v for k, v in generated.items() if k not in SIGNATURE_FIELDS}
        if "jobId" in params and tally.jobs and rng.random() < REAL:
            params["jobId"] = rng.choice(tally.jobs)
        if name == "computeStart" and orders and rng.random() < REAL:
            dataset = {"documentId": stack.dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": orders.pop()}
            params.update(dataset=dataset, algorithm=NOOP)
        dataset = params.get("dataset")
        document = dataset.get("documentId", "") if isinstance(dataset, dict) else params.get("documentId", "")
        index = params.get("index", params.get("fileIndex", 0))
        job_id = params.get("jobId", "")
        if not (isinstance(document, str) and isinstance(job_id, str) and isinstance(index, int)):
            return  # not something a client could sign
        signer = publisher if address_field == "publisherAddress" else consumer
        try:
            signed = signer.signed(
                name, params, document_id=document, job_id=job_id, index=index,
                query=where == "query", address_field=address_field,
            )  # fmt: skip
        except (ValueError, TypeError, OverflowError):
            return  # parameters without a canonical JSON form (a fraction, say): sent as generated
        if where == "query":
            case.query = signed
        else:
            case.body = signed

    class ProviderFuzz(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "timeout": 60}

        def before_call(self, case: Any) -> None:
            sign(case)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            tally.record("provider", case, response)

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            pass  # Tally.record checks each answer, and the run goes on

    return ProviderFuzz


class _ProviderSignature(requests.auth.AuthBase):
    """Signs most requests to the operator service as the stack's provider does, over the bytes
    sent; leaves the others as generated."""

    def __init__(self, key: str, rng: random.Random) -> None:
        self.key, self.address, self.rng, self.nonces = key, address_of(key), rng, NonceClock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.rng.random() <= SIGNED:
            body = r.body.encode() if isinstance(r.body, str) else (r.body or b"")
            assert isinstance(body, bytes) and r.method is not None
            r.headers.update(signed_headers(self.key, self.address, r.method, r.path_url, body, self.nonces.next()))
        return r


def operator_machine(stack: ChaosStack, tally: Tally, rng: random.Random) -> Any:
    schema = schemathesis.openapi.from_dict(json.loads((DOCS / "operator.openapi.json").read_text()))
    session = requests.Session()
    session.auth = _ProviderSignature(embedded.service_key(stack.data_dir, "provider").read_text().strip(), rng)
    owner = stack.consumer.address
    url = stack.state.operator_url

    class OperatorFuzz(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "session": session, "timeout": 60}

        def before_call(self, case: Any) -> None:
            for part in (case.query, case.body):
                if not isinstance(part, dict):
                    continue
                if "owner" in part and rng.random() < REAL:
                    part["owner"] = owner
                if "jobId" in part and tally.jobs and rng.random() < REAL:
                    part["jobId"] = rng.choice(tally.jobs)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            tally.record("operator", case, response)

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            pass

    return OperatorFuzz


def fuzz(stack: ChaosStack, provider_requests: int, operator_requests: int, run_seed: int) -> Tally:
    """Sends about that many requests to each service of `stack`, the provider's first; the
    answers, and what broke a rule."""
    rng = random.Random(run_seed)
    tally = Tally()
    orders = [stack.order() for _ in range(max(10, provider_requests // 40))]
    drive(provider_machine(stack, tally, rng, orders), tally, provider_requests, rng)
    drive(operator_machine(stack, tally, rng), tally, operator_requests, rng)
    for name, alive in embedded.status(stack.data_dir).items():
        if not alive:
            tally.failures.append(f"the {name} died")
    return tally

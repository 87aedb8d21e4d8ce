"""Chaos on the embedded stack: jobs under way while one of its processes dies.

Each run buys a few orders, submits a job for each (staggered), and at a random moment kills
one of Ganache, the provider, the operator service or the engine: SIGKILL (a crash) or SIGTERM
(a stop), then starts it again (c2d.stack.restart) after a random pause. The consumers behave
as c2d's clients should: a request that failed in transit or with a 503 is sent again as it
was, with the same order. Then every invariant is checked against the stack's own records:

- final: every job reaches a final status within FINAL_BOUND seconds of the restart;
- once: each order has exactly one job, and each job ran each stage once, in order (the engine's
  crash may start the stage it interrupted once more; nothing else repeats a stage);
- results: every job finished (70) and its result is the right one, fetched through the provider;
- orders: the provider counts one use per order, held by that job, none left unsettled;
- agree: the provider's admitted jobs are exactly the operator's;
- leftovers: once every job is final, no sandbox process, mount, loop device or cgroup of a job
  is left, and once the jobs are deleted, no job directory.

tests/compute/test_chaos.py runs a few runs in `make test`; `make chaos` (bench/chaos.py) runs
the full size.
"""

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from c2d import stack as embedded
from c2d.assets import COMPUTE_SERVICE_ID, Privacy, PublishedFile, Services, publish
from c2d.chain import order_amount
from c2d.client import ProviderRequestError
from c2d.compute import DEFAULT_CONTAINER
from c2d.job import FINAL, Status
from c2d.localchain import free_port
from c2d.operator.bootstrap import JOBS_NS

ONE = 10**18
TARGETS = ("ganache", "provider", "operator-service", "operator-engine")
# On the test cluster: the engine, and a stage's container (docker kill) or pod (deleted, no grace).
CLUSTER_TARGETS = ("operator-engine", "stage")
HOWS = ("kill", "stop")
KUBECONFIG = Path("/var/lib/c2d-cluster/kubeconfig")
DOCKER_HOST = "unix:///run/c2d-docker/docker.sock"  # the test cluster's dockerd
FINAL_BOUND = 90.0  # seconds from the restart to the last job's final status
SUBMIT_BOUND = 60.0  # how long a consumer keeps sending its request again
CANONICAL = [1, 10, 20, 30, 40, 50, 60, 70]
ALGORITHM = (
    "import pathlib, random, time\n"
    "time.sleep(random.uniform(0.2, 1.2))\n"
    "numbers = pathlib.Path('/data/inputs').rglob('0')\n"
    "total = sum(int(line) for path in numbers for line in path.read_text().split())\n"
    "pathlib.Path('/data/outputs/sum.txt').write_text(str(total))\n"
)
EXPECTED = b"5050"
CGROUPS = [Path("/sys/fs/cgroup") / controller / "c2d" for controller in ("memory", "cpu", "pids")]
SANDBOX_PROGRAMS = {"bwrap", "slirp4netns"}


@dataclass
class Run:
    target: str
    how: str
    fault_at: float  # seconds after the first submission
    pause: float  # seconds between the death and the restart
    faulted: float = 0.0  # when the fault came (wall clock): a violation's history is told from it
    orders: list[str] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)  # order → the job its consumer was answered
    retried: Counter[str] = field(default_factory=Counter)  # what made consumers send again
    to_final: float = 0.0  # seconds from the restart to the last job's final status
    violations: list[str] = field(default_factory=list)
    stage_repeats: int = 0  # stages started again after the engine died under them
    ended_badly: Counter[str] = field(default_factory=Counter)  # a killed stage's jobs: status and reason


def executor_env(name: str, data_dir: Path) -> dict[str, str]:
    """The C2D_* settings of an embedded stack in `data_dir` whose engine uses executor `name`
    (local, or docker and kubernetes on the test cluster: `make cluster-up images`)."""
    if name == "docker":
        return {"C2D_EXECUTOR": "docker", "C2D_DOCKER_HOST": DOCKER_HOST}
    if name == "kubernetes":
        from c2d.operator import bootstrap

        # The operator key's Secret and the engine's Role are the cluster's, shared by every stack
        # on it (the cluster tests' too): the key already there becomes this stack's operator key
        # (`stack up` keeps a key it finds), and the Role is installed as the tests install it.
        admin = bootstrap.admin(KUBECONFIG)
        key_file = data_dir / "keys" / "operator.key"
        if not key_file.exists() and (installed := _installed_key(admin)):
            embedded.service_key(data_dir, "operator").write_text(installed)
        key = embedded.service_key(data_dir, "operator").read_text().strip()
        bootstrap.install(admin, key, outputs_class=bootstrap.TEST_OUTPUTS_CLASS)
        return {
            "C2D_EXECUTOR": "kubernetes",
            "C2D_KUBECONFIG": str(KUBECONFIG),
            "C2D_KUBE_NAMESPACE": bootstrap.JOBS_NS,
            "C2D_KUBE_LOOPBACK": "true",
        }
    return {}


def describe(run: Run) -> str:
    """One line of a run: the fault, how long its jobs took to end, what consumers met."""
    badly = f", ended badly {dict(run.ended_badly)}" if run.ended_badly else ""
    return (
        f"{run.how:>4} {run.target:<16} at {run.fault_at:.1f} s, down {run.pause:.1f} s: final "
        f"{run.to_final:.1f} s after, {dict(run.retried)}, stages again {run.stage_repeats}{badly}"
    )


def suite(root: Path, runs: int, targets: tuple[str, ...], executor: str = "local", say: Any = print) -> None:
    """`runs` runs on a fresh stack under `root`, each line told to `say`; fails with every
    violated invariant (and the seed that repeats the schedule: C2D_CHAOS_SEED)."""
    seed = int(os.environ.get("C2D_CHAOS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    stack = ChaosStack(root, executor=executor)
    done = []
    try:
        for target, how in schedule(runs, rng, targets):
            done.append(stack.run(rng, target, how))
            say(f"{executor}: {describe(done[-1])}")
    finally:
        stack.close()
    failed = [(run.target, run.how, v) for run in done for v in run.violations]
    assert not failed, f"seed {seed}: {failed}"


class ChaosStack:
    """An embedded stack (c2d.stack) under `root` with executor `executor`, and one dataset to
    compute on; `env`: more C2D_* settings of its services."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, executor: str = "local") -> None:
        self.data_dir = root / "stack"
        self.executor = executor
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**executor_env(executor, self.data_dir), **(env or {})}
        self.state = embedded.up(self.data_dir, free_port(), free_port(), free_port(), operator_env=env)
        try:
            self._publish()
        except BaseException:
            embedded.down(self.data_dir)
            raise

    def _publish(self) -> None:
        self.publisher = self.state.chain_client(embedded.PUBLISHER)
        self.consumer = self.state.chain_client(embedded.CONSUMER)
        self.api = self.state.client(embedded.CONSUMER)
        folder = self.state.publisher_dir(embedded.PUBLISHER)
        (folder / "numbers.csv").write_text("".join(f"{i}\n" for i in range(1, 101)))
        publisher_api = self.state.client(embedded.PUBLISHER)
        self.dataset = publish(
            self.publisher,
            publisher_api,
            "Chaos numbers",
            [PublishedFile.local(folder / "numbers.csv", "text/plain")],
            Services(compute_cost=ONE, privacy=Privacy(allowRawAlgorithm=True)),
            supply=10_000 * ONE,
        )
        publisher_api.close()
        token = self.publisher.chain.datatoken(self.dataset.datatoken)
        self.publisher.wallet.send(token.functions.transfer(self.consumer.address, 10_000 * ONE))
        self.jobs_dir = self.data_dir / "jobs"

    def close(self) -> None:
        self.api.close()
        embedded.down(self.data_dir)

    def order(self) -> str:
        return self.consumer.start_order(self.dataset.datatoken, order_amount(ONE), COMPUTE_SERVICE_ID).tx_hash

    def start(self, order: str, code: str = ALGORITHM, environment: str | None = None) -> str:
        """Starts a job of the raw algorithm `code` (the chaos algorithm by default) on `order`
        in `environment`; its id."""
        job_input = {"documentId": self.dataset.did, "serviceId": COMPUTE_SERVICE_ID, "transferTxId": order}
        algorithm = {"meta": {"rawcode": code, "container": DEFAULT_CONTAINER}}
        (job,) = self.api.compute_start(job_input, algorithm, environment=environment)
        return str(job["jobId"])

    def kill(self, name: str, how: int = signal.SIGKILL) -> None:
        os.kill(self.state.pids[name], how)
        if how in (signal.SIGKILL, signal.SIGTERM):
            _wait_gone(self.state.pids[name])

    def restart(self, name: str) -> None:
        self.state = embedded.restart(self.data_dir, name)

    def kill_a_stage(self, job_ids: set[str], within: float = 5.0) -> str:
        """Kills a running stage of one of `job_ids` as the infrastructure would: its container
        (docker kill) or its pod (deleted without grace); the stage killed, or "" if none ran."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for _job, stage, name in self.stages_running(job_ids):
                if self.executor == "docker":
                    _docker("kill", name, check=False)
                else:
                    with contextlib.suppress(Exception):
                        _core().delete_namespaced_pod(name, JOBS_NS, grace_period_seconds=0)
                return stage
            time.sleep(0.05)
        return ""

    def stages_running(self, job_ids: set[str]) -> list[tuple[str, str, str]]:
        """(job id, stage, container or pod name) of the running stages of `job_ids`."""
        found = []
        if self.executor == "docker":
            listed = _docker(
                "ps", "--filter", "label=c2d.job", "--format", '{{.Names}} {{.Label "c2d.job"}} {{.Label "c2d.stage"}}'
            )
            for line in listed.splitlines():
                name, job_id, stage = [*line.split(), "", "", ""][:3]
                if job_id in job_ids:
                    found.append((job_id, stage, name))
        elif self.executor == "kubernetes":
            for pod in _core().list_namespaced_pod(JOBS_NS, label_selector="workflow").items:
                labels = pod.metadata.labels or {}
                if labels.get("workflow") in job_ids and pod.status.phase == "Running":
                    found.append((labels["workflow"], labels.get("component", ""), pod.metadata.name))
        return found

    def held_by_executor(self, job_ids: set[str]) -> list[str]:
        """What the container executors still hold of `job_ids`: containers, Jobs, pods."""
        if self.executor == "docker":
            listed = _docker("ps", "-a", "--filter", "label=c2d.job", "--format", '{{.Names}} {{.Label "c2d.job"}}')
            return [f"container left: {line.split()[0]}" for line in listed.splitlines() if line.split()[-1] in job_ids]
        if self.executor == "kubernetes":
            from kubernetes import client

            batch = client.BatchV1Api(_kube())
            kube_jobs = batch.list_namespaced_job(JOBS_NS, label_selector="workflow").items
            pods = _core().list_namespaced_pod(JOBS_NS, label_selector="workflow").items
            return [
                f"{kind} left: {item.metadata.name}"
                for kind, items in (("Job", kube_jobs), ("pod", pods))
                for item in items
                if (item.metadata.labels or {}).get("workflow") in job_ids
            ]
        return []

    # ---- one run ----

    def run(self, rng: random.Random, target: str, how: str, jobs: int = 3) -> Run:
        run = Run(target, how, fault_at=rng.uniform(0.0, 2.0), pause=rng.uniform(0.0, 1.5))
        run.orders = [self.order() for _ in range(jobs)]
        lock = threading.Lock()
        started = time.monotonic()

        def submit(n: int, order: str) -> None:
            time.sleep(0.4 * n)
            deadline, sent = time.monotonic() + SUBMIT_BOUND, False
            while time.monotonic() < deadline:
                try:
                    job_id = self.start(order)
                    with lock:
                        run.jobs[order] = job_id
                    return
                except ProviderRequestError as exc:
                    if exc.status == 402 and exc.code == "order_used_up" and sent:
                        with lock:  # an answer lost with the provider: the job is in its records
                            run.retried["answer lost"] += 1
                        return
                    if exc.status != 503:
                        with lock:
                            run.violations.append(f"order {order}: {exc}")
                        return
                    with lock:
                        run.retried[exc.code] += 1
                except httpx.HTTPError as exc:
                    with lock:
                        run.retried[type(exc).__name__] += 1
                sent = True
                time.sleep(0.3)
            with lock:
                run.violations.append(f"order {order}: no answer within {SUBMIT_BOUND:.0f} s")

        submitters = [threading.Thread(target=submit, args=(n, o)) for n, o in enumerate(run.orders)]
        for thread in submitters:
            thread.start()
        time.sleep(max(0.0, started + run.fault_at - time.monotonic()))
        run.faulted = time.time()
        if target == "stage":
            killed = self.kill_a_stage(set(run.jobs.values()))
            run.retried[f"stage killed: {killed}" if killed else "no stage under way to kill"] += 1
        else:
            self.kill(target, signal.SIGKILL if how == "kill" else signal.SIGTERM)
            time.sleep(run.pause)
            self.restart(target)
        restarted = time.monotonic()
        for thread in submitters:
            thread.join()
        self.check(run, restarted)
        return run

    # ---- the invariants ----

    def check(self, run: Run, restarted: float) -> None:
        """Every invariant of the module's documentation, for `run`'s orders; its violations go to `run`."""
        from c2d.operator.store import JobStore
        from c2d.provider.store import ADMITTING, CREATED, Store

        provider = Store(f"sqlite:///{self.data_dir / 'provider.db'}")
        operator = JobStore(f"sqlite:///{self.data_dir / 'operator.db'}")
        try:
            by_order = operator_jobs(operator, run.orders)
            for order in run.orders:
                found = by_order.get(order, [])
                if len(found) != 1:
                    run.violations.append(f"order {order}: {len(found)} jobs in the operator")
                elif order in run.jobs and run.jobs[order] != found[0]:
                    run.violations.append(f"order {order}: answered job {run.jobs[order]}, operator has {found[0]}")
            ids = [found[0] for found in by_order.values() if len(found) == 1]
            deadline = restarted + FINAL_BOUND
            pending = set(ids)
            while pending and time.monotonic() < deadline:
                pending = {i for i in pending if (j := operator.get(i)) is None or j.status not in FINAL}
                time.sleep(0.1)
            run.to_final = time.monotonic() - restarted
            for job_id in pending:
                job = operator.get(job_id)
                run.violations.append(
                    f"job {job_id}: not final {FINAL_BOUND:.0f} s after the restart: {job and job.status}"
                )
            for job_id in set(ids) - pending:
                self._check_job(run, operator, job_id)
            for order in run.orders:
                uses = provider.cached_order(order, self.dataset.datatoken)
                held = provider.admissions_of_order(order, self.dataset.datatoken)
                states = [(a.job_id, a.state) for a in held]
                if uses is None or uses[1] != 1 or [s for _, s in states] != [CREATED]:
                    run.violations.append(f"order {order}: provider counts {uses and uses[1]} uses, held by {states}")
                elif by_order.get(order) != [held[0].job_id]:
                    run.violations.append(
                        f"order {order}: provider's job {held[0].job_id}, operator's {by_order.get(order)}"
                    )
            unsettled = [a.job_id for a in provider.admitting(time.time() + 1)]
            if unsettled:
                run.violations.append(f"admissions left unsettled: {unsettled} ({ADMITTING})")
            run.violations += settled(lambda: leftovers(self.jobs_dir, self.state.pids["operator-engine"]))
            run.violations += settled(lambda: self.held_by_executor(set(ids)), timeout=60.0)
            for job_id in ids:
                with contextlib.suppress(ProviderRequestError):
                    self.api.compute_delete(job_id)
            run.violations += settled(lambda: job_files(self.jobs_dir))
        finally:
            provider.close()
            operator.close()

    def _check_job(self, run: Run, operator: Any, job_id: str) -> None:
        job = operator.get(job_id)
        if job.status != Status.FINISHED:
            if run.target == "stage" and job.reason:  # its stage was killed under it: ended, saying why
                run.ended_badly[f"{int(job.status)} {job.reason}"] += 1
                if job.reason == "provisioned" or job.reason.startswith("published "):  # a success line
                    run.violations.append(f"job {job_id}: ended {int(job.status)} saying {job.reason!r}")
                return
            run.violations.append(f"job {job_id}: ended {int(job.status)} ({job.reason})")
            return
        statuses = [int(status) for status, _, _ in operator.history(job_id)]
        squeezed = [s for n, s in enumerate(statuses) if n == 0 or s != statuses[n - 1]]
        repeats = len(statuses) - len(squeezed)
        if squeezed != CANONICAL or (repeats and run.target not in ("operator-engine", "stage")) or repeats > 1:
            run.violations.append(f"job {job_id}: ran {statuses}")
        run.stage_repeats += repeats
        (status,) = self.api.compute_status(job_id)
        index = next((r["index"] for r in status["results"] if r["filename"] == "sum.txt"), None)
        got = None if index is None else self.api.compute_result(job_id, index)
        if got != EXPECTED:
            told = [(int(s), round(at - run.faulted, 2)) for s, at, _ in operator.history(job_id)]
            what = f"it is {got[:40]!r}" if got is not None else f"results {[r['filename'] for r in status['results']]}"
            run.violations.append(
                f"job {job_id}: its result is lost or wrong ({what}; statuses, s from the fault: {told})"
            )


def operator_jobs(operator: Any, orders: list[str]) -> dict[str, list[str]]:
    """The operator's jobs of each of `orders` (a dataset's order)."""
    from c2d.operator.store import jobs

    wanted = {order.lower(): order for order in orders}
    found: dict[str, list[str]] = {}
    with operator.engine.connect() as conn:
        for job_id, spec in conn.execute(select(jobs.c.id, jobs.c.spec)):
            for dataset in (spec if isinstance(spec, dict) else {}).get("datasets", []):
                order = wanted.get(str(dataset.get("transferTxId", "")).lower())
                if order:
                    found.setdefault(order, []).append(job_id)
    return found


def _installed_key(admin: Any) -> str | None:
    """The operator key in the test cluster's Secret, if there is one."""
    import base64

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from c2d.operator import bootstrap
    from c2d.operator.executors.kubernetes import SECRET_KEY

    try:
        secret = client.CoreV1Api(admin).read_namespaced_secret(bootstrap.SECRET_NAME, bootstrap.JOBS_NS)
    except ApiException:
        return None
    value = (secret.data or {}).get(SECRET_KEY)
    return base64.b64decode(value).decode() if value else None


def _docker(*args: str, check: bool = True) -> str:
    import subprocess

    done = subprocess.run(
        ["docker", *args], env={**os.environ, "DOCKER_HOST": DOCKER_HOST}, capture_output=True, text=True, check=check
    )
    return done.stdout


def _kube() -> Any:
    from c2d.operator import bootstrap

    return bootstrap.admin(KUBECONFIG)


def _core() -> Any:
    from kubernetes import client

    return client.CoreV1Api(_kube())


def settled(look: Callable[[], list[str]], timeout: float = 10.0) -> list[str]:
    """What `look` still finds after `timeout` seconds (a process that is ending is no leftover)."""
    deadline = time.monotonic() + timeout
    while (found := look()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def job_files(jobs_dir: Path) -> list[str]:
    """Job directories and volume images under the jobs directory (none once its jobs are deleted)."""
    from c2d.operator.executors.quota import VOLUMES

    if not jobs_dir.exists():
        return []
    found = [f"job directory left: {p.name}" for p in jobs_dir.iterdir() if p.name != VOLUMES]
    if (jobs_dir / VOLUMES).is_dir():
        found += [f"volume left: {p.name}" for p in (jobs_dir / VOLUMES).iterdir()]
    return found


def leftovers(jobs_dir: Path, engine_pid: int) -> list[str]:
    """What the stages of finished jobs left behind: processes (a sandbox, a user network,
    anything the engine started, anything with a file of a job open), mounts and loop devices
    under the jobs directory, cgroups."""
    found = []
    jobs = str(jobs_dir.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            comm = (entry / "comm").read_text().strip()
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if state == "Z" and parent == "1":
                continue  # a stage's process killed with its sandbox, handed to init: nothing but a pid until reaped
            if comm in SANDBOX_PROGRAMS or int(parent) == engine_pid:
                found.append(f"process {entry.name} ({comm}, state {state}, parent {parent}) left")
                continue
            for link in [entry / "cwd", *(entry / "fd").iterdir()]:
                with contextlib.suppress(OSError):
                    if os.readlink(link).startswith(jobs):
                        found.append(f"process {entry.name} ({comm}) holds {os.readlink(link)}")
                        break
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if line.split()[4].startswith(jobs + "/"):  # under it (the jobs directory may be a mount itself)
            found.append(f"mount left: {line.split()[4]}")
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            if backing.read_text().strip().startswith(jobs):
                found.append(f"loop device left: {backing.parent.parent.name}")
    for root in CGROUPS:
        if root.exists():
            found += [f"cgroup left: {group}" for group in root.iterdir() if group.is_dir()]
    return found


def _wait_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # a child of this process: reaped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not end")


def schedule(runs: int, rng: random.Random, targets: tuple[str, ...] = TARGETS) -> list[tuple[str, str]]:
    """`runs` faults: every target and both ways in turn, in a shuffled order."""
    plan = [(targets[n % len(targets)], HOWS[(n // len(targets)) % len(HOWS)]) for n in range(runs)]
    rng.shuffle(plan)
    return plan

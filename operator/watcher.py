"""The engine's watcher of WorkFlows (kubernetes executor): kopf, in a thread of the engine."""

import logging
import socket
import threading
from typing import Any, cast

from c2d.operator import workflows
from c2d.operator.kubeapi import api_client
from c2d.operator.settings import OperatorSettings
from c2d.operator.store import JobStore

log = logging.getLogger("c2d.operator.watcher")


def watch_workflows(store: JobStore, settings: OperatorSettings, stop: threading.Event) -> threading.Thread:
    """Follows the jobs namespace's WorkFlows with kopf (in a thread of the engine): a WorkFlow
    asked to stop (`spec.stopRequested: true`) or deleted stops its job."""
    import asyncio

    import kopf

    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        """The engine's own credentials (its kubeconfig, or the pod's service account)."""
        cfg = api_client(settings).configuration
        header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization") or ""
        scheme, _space, token = header.partition(" ")
        return kopf.ConnectionInfo(
            server=cfg.host,
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            scheme=scheme or None,
            token=token or None,
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
        )

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False  # no events: the engine's role has no events verb
        settings.scanning.disabled = True  # one known namespace and resource: no cluster-wide reads
        settings.watching.server_timeout = 60
        settings.networking.request_timeout = 30

    @kopf.on.event(workflows.GROUP, workflows.VERSION, workflows.PLURAL, registry=registry)
    def event(type: str, name: str, spec: Any, **_: Any) -> None:
        if type == "DELETED" or (spec and spec.get("stopRequested")):
            job = store.get(name)
            if job is not None and not job.status.final and not job.stop_requested:
                store.request_stop(name, told=False)  # the WorkFlow asked: nothing to tell it
                log.info("job %s: stop requested through its WorkFlow", name)

    async def run() -> None:
        stop_flag: asyncio.Event = asyncio.Event()

        async def watch_stop() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.5)
            stop_flag.set()

        waiter = asyncio.create_task(watch_stop())
        await kopf.operator(
            registry=registry,
            namespaces=[settings.kube_namespace],
            standalone=True,
            stop_flag=stop_flag,
            # kopf's default identity asks the passwd database, which has no entry for the
            # image's user 10001
            identity=cast(Any, f"c2d-engine@{socket.gethostname()}"),  # kopf's Identity: a str NewType
        )
        waiter.cancel()

    thread = threading.Thread(target=lambda: asyncio.run(run()), name="workflows", daemon=True)
    thread.start()
    return thread

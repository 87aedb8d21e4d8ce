"""Real servers the tests run in-process: the provider under uvicorn, and a plain HTTP file
server (with redirects) standing in for a publisher's web server."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import uvicorn

from c2d import serving
from c2d.localchain import free_port
from c2d.provider import ProviderSettings, create_app, load_settings


class AppServer:
    """An ASGI app under uvicorn on 127.0.0.1, in a thread; `make_app` builds it at each start."""

    def __init__(self, make_app: Callable[[], Any], limits: serving.ConnectionLimits | None = None) -> None:
        self.make_app = make_app
        self.limits = limits
        self.port = free_port()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.app: Any = None  # the app of the current run (its state: the service's objects)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AppServer":
        self.app = self.make_app()
        config = serving.config(self.app, "127.0.0.1", self.port, self.limits, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server:
            self.server.should_exit = True
        if self.thread:
            self.thread.join(timeout=20)
        self.server = self.thread = None

    def restart(self) -> None:
        self.stop()
        self.start()


class ProviderServer(AppServer):
    def __init__(
        self, settings: ProviderSettings, make_provider: Callable[[ProviderSettings], Any] | None = None
    ) -> None:
        made = (lambda: create_app(settings, make_provider)) if make_provider else (lambda: create_app(settings))
        super().__init__(made, settings.connection_limits())
        self.settings = settings


class _Handler(SimpleHTTPRequestHandler):
    redirects: ClassVar[dict[str, str]] = {}
    sequences: ClassVar[dict[str, list[bytes]]] = {}  # a path answering each request with the next body
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        target = self.redirects.get(self.path)
        if target:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
            return
        bodies = self.sequences.get(self.path)
        if bodies:
            body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


class FileServer:
    """Serves a directory on 127.0.0.1; `redirects` maps a path to a Location."""

    def __init__(
        self, directory: Path, redirects: dict[str, str], sequences: dict[str, list[bytes]] | None = None
    ) -> None:
        self.hits: list[str] = []  # the paths asked for, in order
        handler = type(
            "Handler", (_Handler,), {"redirects": redirects, "sequences": sequences or {}, "hits": self.hits}
        )
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_settings(ganache, addresses_file, data_root, db_path, provider_key, **overrides):
    values = {
        "rpc_url": ganache.url,
        "chain_id": 1337,
        "provider_key": provider_key,
        "addresses_file": addresses_file,
        "operator_url": f"http://127.0.0.1:{free_port()}",  # the operator service is not running
        "data_root": data_root,
        "provider_database_url": f"sqlite:///{db_path}",
        "index_interval": 0.2,
        "allow_private_urls": True,  # the tests' file server is on 127.0.0.1
        "rate_limit": 0,  # every test client is 127.0.0.1; test_hostile.py tests the limit
        **overrides,
    }
    return load_settings(**values)


class _Process:
    """A process of c2d's that a test starts, stops or kills."""

    process: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class EngineProcess(_Process):
    """`c2d operator-engine` as a real process (so a test can SIGKILL it)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path

    def start(self) -> "EngineProcess":
        c2d = Path(sys.executable).parent / "c2d"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(c2d), "operator-engine"], env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
            )
        return self


class ServiceProcess(_Process):
    """A c2d service (`c2d provider`, `c2d operator-service`) as a real process on 127.0.0.1,
    so a test can see it crash, measure its memory and read its log."""

    def __init__(self, command: str, env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.port = free_port()
        self.env = env
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/") -> "ServiceProcess":
        c2d = Path(sys.executable).parent / "c2d"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(c2d), self.command, "--port", str(self.port)],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} stopped: {self.log_path.read_text()[-2000:]}")
            try:
                import httpx

                httpx.get(self.url + ready_path, timeout=1)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def provider_env(settings: ProviderSettings) -> dict[str, str]:
    """The C2D_* variables that give a `c2d provider` process these settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        env[f"C2D_{name.upper()}"] = str(value)
    return env

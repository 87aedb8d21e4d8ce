"""A local algorithm that may use the network gets its own user-mode network (slirp4netns), not
the host's: public addresses only.

The test runs in a network namespace of its own (`unshare --net`), which plays the host: on its
`lo` it holds a private address (10.9.9.9), the cloud metadata address (169.254.169.254) and the
host's loopback (127.0.0.1), each serving HTTP; a "public" test host (44.0.0.2) lives in a second
namespace of the test's, behind a veth pair (44.0.0.1/30 on the host's side). The sandbox is the
local executor's, through the same calls the executor makes. No packet can leave the test's
namespaces."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    r"""
    import json, os, subprocess, sys, tempfile, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    PUBLIC = sys.argv[1]

    def ip(*args):
        subprocess.run(["ip", *args], check=True)

    ip("link", "set", "lo", "up")
    hosts = {"public": "44.0.0.2", "private": "10.9.9.9", "metadata": "169.254.169.254", "loopback": "127.0.0.1"}
    for address in ("10.9.9.9", "169.254.169.254"):
        ip("addr", "add", f"{address}/32", "dev", "lo")
    hits = {name: 0 for name in hosts}
    # the public host: a namespace of its own behind a veth pair
    public = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c", PUBLIC], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    ip("link", "set", "veth1", "netns", str(public.pid))
    ip("addr", "add", "44.0.0.1/30", "dev", "veth0")
    ip("link", "set", "veth0", "up")
    public.stdin.write("go\n")
    public.stdin.flush()
    assert public.stdout.readline().strip() == "ready"

    def serve(name, address):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits[name] += 1
                body = f"{name} data".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        httpd = ThreadingHTTPServer((address, 8080), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()

    for name, address in hosts.items():
        if name != "public":
            serve(name, address)

    from c2d.operator.executors import sandbox

    algorithm = '''
    import json, socket, urllib.request
    seen = {}
    for name, address in %s.items():
        try:
            seen[name] = urllib.request.urlopen(f"http://{address}:8080/", timeout=3).read().decode()
        except Exception as exc:
            seen[name] = type(exc).__name__
    try:
        seen["gateway"] = urllib.request.urlopen("http://10.0.2.2:8080/", timeout=3).read().decode()
    except Exception as exc:
        seen["gateway"] = type(exc).__name__
    seen["interfaces"] = sorted(n for _, n in socket.if_nameindex())
    print(json.dumps(seen), flush=True)
    ''' % json.dumps(hosts)
    job = Path(tempfile.mkdtemp(prefix="c2d-net-"))
    data = job / "data"
    for name in ("inputs", "ddos", "transformations", "logs", "outputs"):
        (data / name).mkdir(parents=True)
    (data / "transformations" / "algorithm").write_text(algorithm.strip() + "\n")
    os.chmod(job, 0o711)
    for path in [data, *data.iterdir()]:
        os.chmod(path, 0o755)
    (data / "transformations" / "algorithm").chmod(0o644)
    uid = sandbox.ALGORITHM_UID_BASE + 4242
    os.chown(data / "outputs", uid, uid)
    outcome = sandbox.run(
        lambda fd: sandbox.algorithm_command(data, "python3 /data/transformations/algorithm", {}, True, uid, fd),
        sandbox.Limits(memory_mb=256, cpu=1.0, processes=32, file_size_mb=8, seconds=60),
        "network-test",
        data / "logs" / "algorithm.log",
        {},
        lambda: False,
        user_network=True,
    )
    log = (data / "logs" / "algorithm.log").read_text()
    public.stdin.close()
    hits["public"] = int(public.stdout.read().split()[-1])
    print(json.dumps({"exit": outcome.exit_code, "log": log, "hits": hits}))
    """
)
PUBLIC = textwrap.dedent(
    r"""
    import subprocess, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    sys.stdin.readline()  # its end of the veth pair is here now
    for args in (["link", "set", "lo", "up"], ["addr", "add", "44.0.0.2/30", "dev", "veth1"], ["link", "set", "veth1", "up"]):
        subprocess.run(["ip", *args], check=True)
    hits = []
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(1)
            body = b"public data"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    httpd = ThreadingHTTPServer(("44.0.0.2", 8080), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()  # until the test is done
    print(len(hits), flush=True)
    """
)


def test_a_network_allowed_algorithm_reaches_public_addresses_only():
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", SCRIPT, PUBLIC], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 0, result
    seen = json.loads(result["log"].strip().splitlines()[-1])
    assert seen["public"] == "public data", seen  # through slirp4netns, from the "host"
    for name in ("private", "metadata", "loopback", "gateway"):
        assert "data" not in seen[name], (name, seen)
    assert seen["interfaces"] == ["lo", "tap0"]  # its own namespace, not the host's interfaces
    # the servers saw the one allowed request only
    assert result["hits"] == {"public": 1, "private": 0, "metadata": 0, "loopback": 0}, result

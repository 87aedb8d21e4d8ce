"""Networking for a local algorithm that may use the network, without the host's network.

The algorithm keeps its own network namespace; slirp4netns (user-mode TCP/IP, Debian's package)
attaches a tap device to it (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3) and makes the
algorithm's connections from the host as ordinary sockets. `--disable-host-loopback` keeps it off
the host's 127.0.0.1, and slirp4netns itself runs in the net_cls cgroup `c2d-usernet`, whose
packets to loopback, private, link-local (cloud metadata), shared and reserved addresses, and to
any address of the host itself, iptables rejects before they leave: the algorithm reaches public
addresses only, and the host's DNS servers on port 53 for names.

Needs root, slirp4netns, iptables and the net_cls controller (cgroup v1); without them an
algorithm that asks for the network fails at start, saying so (nothing runs).
"""

import contextlib
import errno
import os
import shutil
import subprocess
import threading
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup/net_cls/c2d-usernet")
CLASSID = 0x00C20051
CHAIN = "C2D-USERNET"
BLOCKED = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",  # shared (carrier NAT); Alibaba's metadata 100.100.100.200 is in it
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local: the cloud metadata address
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",  # multicast and reserved
]
RESOLV_CONF = "nameserver 10.0.2.3\n"  # slirp4netns's DNS, relayed to the host's servers
START_SECONDS = 10.0

_guard_lock = threading.Lock()
_guarded = False


class UserNetworkUnavailable(Exception):
    """The algorithm may use the network, but this machine cannot give it a guarded one."""


def missing() -> str | None:
    """Why user-mode networking is not available here, or None."""
    if os.geteuid() != 0:
        return "needs the engine to run as root"
    for tool in ("slirp4netns", "iptables"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian package)"
    # A mount of the controller, not a folder of that name: classids written into a plain
    # folder would mark no packet, and the guard would guard nothing.
    if not os.path.ismount(CGROUP.parent) and not _mount_net_cls():
        return "needs the net_cls cgroup controller (cgroup v1)"
    return None


def _mount_net_cls() -> bool:
    """A cgroup v1 host where no one has mounted the net_cls controller yet: mounted here (as
    the test cluster's scripts do)."""
    root = CGROUP.parent.parent
    if not (root / "memory").is_dir() or not shutil.which("mount"):  # not cgroup v1's layout
        return False
    made = not CGROUP.parent.exists()
    try:
        CGROUP.parent.mkdir(exist_ok=True)
    except OSError:
        return False
    done = subprocess.run(
        ["mount", "-t", "cgroup", "-o", "net_cls", "net_cls", str(CGROUP.parent)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode == 0 and os.path.ismount(CGROUP.parent):
        return True
    if made:  # no folder left behind that looks like the controller
        with contextlib.suppress(OSError):
            CGROUP.parent.rmdir()
    return False


def _nameservers() -> list[str]:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return []
    found = [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]
    return [address for address in found if ":" not in address]


def _iptables(*args: str, check: bool = True) -> bool:
    done = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise UserNetworkUnavailable(f"iptables {' '.join(args[:2])} failed: {done.stderr.strip()[:200]}")
    return done.returncode == 0


def ensure_guard() -> None:
    """The cgroup and its iptables rules, made once per engine (idempotent across engines)."""
    global _guarded
    with _guard_lock:
        if _guarded:
            return
        reason = missing()
        if reason:
            raise UserNetworkUnavailable(reason)
        CGROUP.mkdir(exist_ok=True)
        (CGROUP / "net_cls.classid").write_text(str(CLASSID))
        rules = _rules()
        _iptables("-N", CHAIN, check=False)
        present = subprocess.run(["iptables", "-w", "-S", CHAIN], capture_output=True, text=True).stdout
        same = len(present.strip().splitlines()) == len(rules) + 1 and all(
            _iptables("-C", CHAIN, *rule, check=False) for rule in rules
        )
        if not same:  # made by another version, or changed: made again (else its counters stay)
            _iptables("-F", CHAIN)
            for rule in rules:
                _iptables("-A", CHAIN, *rule)
        _guarded = True
    _hooked()


def _rules() -> list[list[str]]:
    """The chain, in order: the host's DNS servers on port 53, then no loopback, private,
    link-local, shared or reserved address, and none of the host's own."""
    match = ["-m", "cgroup", "--cgroup", hex(CLASSID)]
    rules = [
        [*match, "-d", server, "-p", proto, "--dport", "53", "-j", "ACCEPT"]
        for server in _nameservers()
        for proto in ("udp", "tcp")
    ]
    rules += [[*match, "-d", block, "-j", "REJECT"] for block in BLOCKED]
    return [*rules, [*match, "-m", "addrtype", "--dst-type", "LOCAL", "-j", "REJECT"]]


def _hooked() -> None:
    """The chain in OUTPUT, checked at every attach (a firewall reload may have dropped it)."""
    global _guarded
    if not _iptables("-C", "OUTPUT", "-j", CHAIN, check=False):
        _iptables("-I", "OUTPUT", "1", "-j", CHAIN)
    loopback = ["-m", "cgroup", "--cgroup", hex(CLASSID), "-d", "127.0.0.0/8", "-j", "REJECT"]
    if not _iptables("-C", CHAIN, *loopback, check=False):
        _guarded = False
        raise UserNetworkUnavailable("its firewall rules changed under it; the next job sets them again")


class UserNetwork:
    """slirp4netns for one sandbox: started once its child exists, before its command runs."""

    def __init__(self) -> None:
        ensure_guard()  # and re-checked at each sandbox
        self.process: subprocess.Popen[bytes] | None = None

    def attach(self, child_pid: int) -> None:
        """Gives the network namespace of `child_pid` its tap device; returns once it is up."""
        ready_read, ready_write = os.pipe()
        shell = (
            f"echo $$ > {CGROUP / 'cgroup.procs'} && exec slirp4netns --configure --mtu=65520 "
            f"--disable-host-loopback --enable-sandbox --enable-seccomp --ready-fd {ready_write} "
            f"{child_pid} tap0"
        )
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", shell],
            pass_fds=(ready_write,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        os.close(ready_write)
        ready = threading.Event()

        def wait() -> None:
            try:
                if os.read(ready_read, 1) == b"1":
                    ready.set()
            except OSError:
                pass

        threading.Thread(target=wait, daemon=True).start()
        if not ready.wait(START_SECONDS):
            error = self._stderr()
            self.close()
            os.close(ready_read)
            raise UserNetworkUnavailable(f"slirp4netns did not start: {error or 'no answer'}")
        os.close(ready_read)

    def _stderr(self) -> str:
        if self.process is None or self.process.poll() is None or self.process.stderr is None:
            return ""
        lines = self.process.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else ""

    def close(self) -> None:
        if self.process is None:
            return
        try:
            self.process.kill()
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
        self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

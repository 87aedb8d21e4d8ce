"""The test cluster's egress guard, seen from the tests."""

import subprocess


def egress_packets() -> int:
    """Packets of the cluster's processes (pods included) to non-loopback addresses: rejected by
    the egress guard of scripts/cluster, and counted."""
    total = 0
    for tool in ("iptables", "ip6tables"):
        out = subprocess.run([tool, "-L", "C2D-EGRESS", "-v", "-x", "-n"], capture_output=True, text=True, check=True)
        total += sum(int(line.split()[0]) for line in out.stdout.splitlines() if "REJECT" in line)
    return total

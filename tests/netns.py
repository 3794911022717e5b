"""Hosts on one machine, for tests: Linux network namespaces joined by a switch.

Each host is a namespace with one interface, eth0, on 10.231.0.0/24; its cable (a veth pair)
runs to a bridge in a namespace of its own, the switch. Nothing is added to the machine's own
namespace: no address, no route, no interface. `cut(host)` pulls a host's cable out of the
switch (the switch port goes down; the host's processes live on, their connections stalled),
`mend(host)` puts it back. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator

SUBNET = "10.231.0"
CLONE_NEWNET = 0x40000000


class Network:
    """Namespaces named `<prefix><host>`; hosts get 10.231.0.1, .2, ... in the order given."""

    def __init__(self, prefix: str, hosts: list[str]) -> None:
        self.prefix = prefix
        self.hosts = hosts
        self.switch = f"{prefix}sw"
        self.address = {host: f"{SUBNET}.{n}" for n, host in enumerate(hosts, start=1)}
        self._made: list[str] = []

    def namespace(self, host: str) -> str:
        return f"{self.prefix}{host}"

    def build(self) -> None:
        for name in (self.switch, *map(self.namespace, self.hosts)):
            _ip("netns", "add", name)
            self._made.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for host in self.hosts:
            # Made in the switch's namespace, so that no end ever shows in the machine's own.
            _ip("-n", self.switch, "link", "add", f"p-{host}", "type", "veth",
                "peer", "name", "eth0", "netns", self.namespace(host))  # fmt: skip
            _ip("-n", self.switch, "link", "set", f"p-{host}", "master", "br0", "up")
            ns = self.namespace(host)
            _ip("-n", ns, "addr", "add", f"{self.address[host]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def destroy(self) -> None:
        """Delete every namespace made (their interfaces go with them); safe to call twice."""
        while self._made:
            name = self._made.pop()
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)

    def cut(self, host: str) -> None:
        _ip("-n", self.switch, "link", "set", f"p-{host}", "down")

    def mend(self, host: str) -> None:
        _ip("-n", self.switch, "link", "set", f"p-{host}", "up")

    def command(self, host: str, *argv: str) -> list[str]:
        """`argv` run on `host`."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def listen(self, host: str, port: int, address: str | None = None) -> socket.socket:
        """A listening TCP socket on `host` (at its address, or `address` there, e.g. its
        127.0.0.1), made here: this process serves it, from the machine's own namespace."""
        bind = (address or self.address[host], port)
        return in_namespace(self.namespace(host), lambda: socket.create_server(bind))


def in_namespace(name: str, make: Callable[[], socket.socket]) -> socket.socket:
    """Run `make` in network namespace `name`, on a thread of its own: setns() moves only the
    calling thread, and a socket stays in the namespace it was made in."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/var/run/netns/{name}") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns({name}): {os.strerror(error)}")
            made.append(make())
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None if they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"tbprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


@contextlib.contextmanager
def network(prefix: str, hosts: list[str]) -> Iterator[Network]:
    """A built Network, destroyed however the block ends."""
    net = Network(prefix, hosts)
    try:
        net.build()
        yield net
    finally:
        net.destroy()


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

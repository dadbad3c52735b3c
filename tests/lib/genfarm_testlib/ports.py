"""Which ports a child really bound. Daemons listen on 127.0.0.1:0 and say so in their
--port_file ("grpc_port=N" / "http_port=N" lines, written atomically); for third-party
servers (Prometheus) the kernel's socket table says which ports a process listens on.
Never bind-then-release: the port could be taken again before the child binds it.
"""

import os

from .wait import wait_for


def read_port_file(path):
    """{"grpc_port": N, "http_port": M} from a --port_file, or None while it does not exist."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    ports = {}
    for line in text.splitlines():
        if line.strip():
            key, value = line.split("=", 1)
            ports[key.strip()] = int(value)
    return ports


def wait_port_file(path, process, timeout=30):
    """Waits for ``process`` to write its --port_file; fails at once (with its log) if it dies."""
    def written():
        process.check_alive()
        return read_port_file(path)

    return wait_for(written, timeout, f"{process.name}'s port file {path}")


def _socket_inodes(pid):
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def listening_ports(pid):
    """TCP ports process ``pid`` listens on (from /proc/net/tcp{,6}), sorted."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def wait_listening_port(process, timeout=30):
    """The one TCP port ``process`` (started with port 0) listens on, once it listens."""
    def one_port():
        process.check_alive()
        ports = listening_ports(process.pid)
        return ports[0] if len(ports) == 1 else None

    return wait_for(one_port, timeout, f"{process.name} to listen on a TCP port")

"""Ports: is it free, who holds it, and a free one when a resource asks for any."""

from __future__ import annotations

import contextlib
import socket


class PortInUse(Exception):
    """A resource's port is taken; the message names the process holding it."""


def port_holder(port: int) -> str | None:
    """``PID 123 (python3)`` for the process listening on ``port``, if psutil can tell."""
    import psutil  # only on this error path: it costs every start ~15 ms

    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, PermissionError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "another user's process"
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(conn.pid)
                return f"PID {conn.pid} ({process.name()}: {' '.join(process.cmdline())[:80]})"
            return f"PID {conn.pid}"
    return None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise :class:`PortInUse` (naming the holder) unless ``port`` can be bound."""
    if not port_is_free(port, host):
        holder = port_holder(port)
        who = f" by {holder}" if holder else ""
        raise PortInUse(f"port {port} is already in use{who}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

"""Port checks name the process that holds a port."""

from __future__ import annotations

import os
import socket

import pytest

from netscript.orchestrator.ports import PortInUse, check_port_free, free_port, port_holder


def test_a_taken_port_names_its_holder() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_holder(port) is not None and f"PID {os.getpid()}" in str(port_holder(port))
        with pytest.raises(PortInUse, match=f"port {port} is already in use by PID {os.getpid()}"):
            check_port_free(port)


def test_a_free_port_passes() -> None:
    port = free_port()
    check_port_free(port)
    assert port_holder(port) is None

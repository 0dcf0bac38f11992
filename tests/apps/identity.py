import os
import socket


def container_identity() -> str:
    """Unique per container in every runtime: pids repeat across pid namespaces, hostnames
    repeat across plain processes."""
    return f"{socket.gethostname()}:{os.getpid()}"

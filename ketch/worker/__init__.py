"""The node agent: starts, watches and stops the containers of one machine."""

from .worker import LocalWorker

__all__ = ["LocalWorker"]

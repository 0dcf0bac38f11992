"""The control plane: apps, functions, calls, dispatch, autoscaling and logs."""

from .control_plane import ControlPlane

__all__ = ["ControlPlane"]

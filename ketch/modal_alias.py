"""Make ``import modal`` (and ``modal.<submodule>``) give ketch, so Modal programs run unchanged.

Installed by ``ketch run``, ``ketch python`` and inside containers. ``modal.X`` resolves to the
ketch module that provides Modal's ``modal.X`` names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

SUBMODULES = {
    "app": "ketch.app",
    "cls": "ketch.cls",
    "config": "ketch.config",
    "exception": "ketch.exception",
    "functions": "ketch.functions",
    "output": "ketch.output",
    "partial_function": "ketch.partial",
    "retries": "ketch.retries",
    "schedule": "ketch.schedule",
    "runner": "ketch.app",
    "sandbox": "ketch.sandbox",
    "io_streams": "ketch.io_streams",
    "container_process": "ketch.container_process",
    "stream_type": "ketch.stream_type",
    "file_io": "ketch.file_io",
    "sandbox_fs": "ketch.sandbox_fs",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system stamped the alias's spec on the ketch module: give it its own back
        module.__spec__ = self._own_spec


class _ModalFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname == "modal":
            return importlib.machinery.ModuleSpec("modal", _AliasLoader("ketch"), is_package=True)
        if fullname.startswith("modal."):
            name = fullname[len("modal."):]
            if name not in SUBMODULES:
                raise ImportError(
                    f"ketch does not provide {fullname!r}; it provides modal."
                    + ", modal.".join(sorted(SUBMODULES)),
                    name=fullname,
                )
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(SUBMODULES[name]))
        return None


def install() -> None:
    """Route ``modal`` imports to ketch in this process (idempotent)."""
    if not any(isinstance(f, _ModalFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ModalFinder())

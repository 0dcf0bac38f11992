"""Make ``import modal`` (and ``modal.<submodule>``) give ketch, so Modal programs run unchanged.

Installed by ``ketch run``, ``ketch python`` and inside containers. ``modal`` is the ``ketch``
package. Each of Modal's public submodules (the table in `modal_names`) resolves to the ketch
module behind it, which then also answers Modal's names that it lacks; a submodule with no
ketch module behind it is a module made here holding only Modal's names. A name ketch does not
implement imports as a placeholder that raises `UnimplementedError` when used.

Example::

    install()
    import modal.queue            # ketch.queue
    from modal.gpu import A100    # a placeholder: A100() raises UnimplementedError
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

from . import modal_names

SUBMODULES = {name: target for name, (target, _) in modal_names.SUBMODULES.items() if name}


class _AliasLoader(importlib.abc.Loader):
    """Loads ``modal.<submodule>`` as the ketch module behind it."""

    def __init__(self, submodule: str, target: str) -> None:
        self.submodule = submodule
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system stamped the alias's spec on the ketch module: give it its own back
        module.__spec__ = self._own_spec
        _answer_modal_names(module, self.submodule)


class _MadeLoader(importlib.abc.Loader):
    """Makes ``modal.<submodule>`` for a submodule with no ketch module behind it."""

    def __init__(self, submodule: str) -> None:
        self.submodule = submodule

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default: a fresh module named after the spec

    def exec_module(self, module: ModuleType) -> None:
        module.__doc__ = f"Modal's {module.__name__}, as ketch provides it."
        module.__all__ = list(modal_names.names(self.submodule))  # type: ignore[attr-defined]
        _answer_modal_names(module, self.submodule)


def _answer_modal_names(module: ModuleType, submodule: str) -> None:
    """Let ``module`` answer Modal's names of ``submodule`` that it does not define (PEP 562),
    after its own ``__getattr__`` if it has one."""
    own = module.__dict__.get("__getattr__")
    if getattr(own, "_ketch_modal", False):
        return

    def __getattr__(name: str) -> Any:
        if own is not None:
            try:
                return own(name)
            except AttributeError:
                pass
        if not submodule and name in SUBMODULES and "." not in name:
            return importlib.import_module(f"modal.{name}")  # `modal.gpu` without importing it
        value = modal_names.resolve(submodule, name)
        setattr(module, name, value)  # one object per name, however often it is looked up
        return value

    __getattr__._ketch_modal = True  # type: ignore[attr-defined]
    module.__getattr__ = __getattr__  # type: ignore[method-assign]


class _ModalFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname == "modal":
            return importlib.machinery.ModuleSpec("modal", _AliasLoader("", "ketch"),
                                                  is_package=True)
        if not fullname.startswith("modal."):
            return None
        name = fullname[len("modal."):]
        if name not in SUBMODULES:
            raise ImportError(
                f"ketch does not provide {fullname!r}; it provides modal."
                + ", modal.".join(sorted(SUBMODULES)),
                name=fullname,
            )
        ketch_module = SUBMODULES[name]
        if ketch_module is not None:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(name, ketch_module))
        is_package = any(other.startswith(name + ".") for other in SUBMODULES)
        return importlib.machinery.ModuleSpec(fullname, _MadeLoader(name), is_package=is_package)


def install() -> None:
    """Route ``modal`` imports to ketch in this process (idempotent)."""
    if not any(isinstance(f, _ModalFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ModalFinder())

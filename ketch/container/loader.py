"""Load the user's function or class in a container, the way the caller defined it.

The user's file is imported by module name (its directory or package root first on
``sys.path``), so its globals and helpers behave as they do in Modal; ``serialized=True``
functions come from cloudpickle instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .. import exception
from ..cls import Cls, construct
from ..partial import Flag, PartialFunction, hooks, own_method, run_hooks
from ..protocol.definition import FunctionDefinition

MAIN_ALIAS = "_ketch_main"


def import_module(definition: FunctionDefinition) -> ModuleType:
    import_paths(definition)
    if definition.source:
        unpack_source(definition.source)
    name = definition.module_name
    if name != "__main__":
        return importlib.import_module(name)
    # A script that called app.run() itself: import it again under its file's name, as Modal
    # does, so that its `if __name__ == "__main__":` block does not run in the container and
    # instances of its classes unpickle in the caller (which imports the script by that name).
    path = definition.module_file
    if path is None:
        raise exception.InvalidError(f"{definition.qualname} was defined in a script ketch "
                                     "cannot find: pass serialized=True")
    name = os.path.splitext(os.path.basename(path))[0]
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == path:
        return loaded
    if not name.isidentifier() or loaded is not None:  # `json.py` must not replace json
        name = MAIN_ALIAS
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise exception.InvalidError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def find_user_object(definition: FunctionDefinition) -> tuple[Any, Any]:
    """The function or class the definition names (as ketch wraps it: a `Cls`, a `Function`,
    unless it was serialized), and the app it was registered on."""
    if definition.serialized is not None:
        import_paths(definition)
        return pickle.loads(definition.serialized), None
    obj: Any = import_module(definition)
    for part in definition.qualname.split("."):
        obj = getattr(obj, part)
    return obj, getattr(obj, "app", None)


def unpack_source(files: dict[str, str]) -> None:
    """Put a deployed version's own copy of its module first on ``sys.path``: where Modal puts
    it (``KETCH_SOURCE_DIR``, /root) in a container with a root of its own, so that files its
    image adds beside it are found from ``__file__``; elsewhere in a folder of its own."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:16]
    root = os.environ.get("KETCH_SOURCE_DIR") or os.path.join(tempfile.gettempdir(),
                                                              f"ketch-source-{digest}")
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # the folder may be shared (the process runtime's temporary one): containers of the
        # version starting together must never import a file another is halfway through
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        os.fchmod(fd, 0o644)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(partial, path)
    sys.path.insert(0, root)


def import_paths(definition: FunctionDefinition) -> None:
    for path in reversed(definition.sys_path):
        if path not in sys.path:
            sys.path.insert(0, path)


class Service:
    """The callables one container serves, and its ``@enter``/``@exit`` hooks."""

    def __init__(self, definition: FunctionDefinition, params: bytes | None) -> None:
        self.definition = definition
        wrapped, self.app = find_user_object(definition)
        user = getattr(wrapped, "raw_user_object", wrapped)
        if isinstance(user, PartialFunction):
            user = user.raw_f
        self.instance: Any = None
        self.snapped = False
        if definition.is_class:
            values = pickle.loads(params) if params else {}
            self.instance = construct(user, values)
            if isinstance(wrapped, Cls):  # its own methods, seen through self, are handles
                wrapped(**values).bind(self.instance)
        else:
            self.function: Callable[..., Any] = user

    def hydrate(self, app_id: str, app_functions: dict[str, str]) -> None:
        """Give the app's function handles their ids, so user code can call them remotely."""
        if self.app is None:
            return
        self.app.app_id = app_id
        for tag, function in self.app.registered_functions.items():
            if tag in app_functions:
                function.hydrate_from(app_functions[tag])
        for variant in self.app._variants:
            if variant.variant_name in app_functions:
                variant.hydrate_from(app_functions[variant.variant_name])

    def callable_for(self, method: str | None) -> Callable[..., Any]:
        if self.instance is None:
            return self.function
        if method is None:
            raise exception.InvalidError("a class input must name its method")
        return own_method(self.instance, method)

    def snap(self) -> None:
        """Run the ``@enter(snap=True)`` hooks now, before a memory snapshot is taken."""
        if self.instance is not None:
            run_hooks(hooks(self.instance, Flag.ENTER_PRE_SNAPSHOT))
        self.snapped = True

    def enter_hooks(self) -> list[Callable[[], Any]]:
        if self.instance is None:
            return []
        if self.snapped:
            return hooks(self.instance, Flag.ENTER_POST_SNAPSHOT)
        return hooks(self.instance, Flag.ENTER_PRE_SNAPSHOT, Flag.ENTER_POST_SNAPSHOT)

    def exit_hooks(self) -> list[Callable[[], Any]]:
        return [] if self.instance is None else hooks(self.instance, Flag.EXIT)

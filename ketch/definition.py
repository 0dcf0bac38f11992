"""Describe user code so a container can load it: module, qualified name, import root.

The keywords of a decorator, checked by `ketch.options`, become a `FunctionDefinition` here, the
typed record the control plane and containers read (`ketch.protocol.definition`).
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

import msgspec

from . import exception
from .protocol.definition import FunctionDefinition, FunctionOptions, MethodInfo, replace
from .serialization import serialize


def import_root(module_name: str, module_file: str | None) -> list[str]:
    """The directory that makes ``module_name`` importable (the package root for packages)."""
    if module_file is None:
        return []
    directory = os.path.dirname(os.path.abspath(module_file))
    if module_name == "__main__":
        return [directory]
    depth = module_name.count(".")
    if os.path.basename(module_file) == "__init__.py":
        depth += 1
    for _ in range(depth):
        directory = os.path.dirname(directory)
    return [directory]


def check_importable(raw: Any, serialized: bool, what: str) -> None:
    qualname = getattr(raw, "__qualname__", "")
    if "<locals>" in qualname and not serialized:
        raise exception.InvalidError(
            f"{what} {qualname!r} is defined inside another function, so a container cannot "
            "import it. Move it to the top level of the module, or pass serialized=True."
        )


def build(
    raw: Any, *, tag: str, app_name: str, options: dict[str, Any], is_class: bool,
    methods: dict[str, dict[str, bool]], is_generator: bool, is_async: bool,
    image: list[dict[str, Any]] | None = None,
) -> FunctionDefinition:
    module_name = raw.__module__
    module = sys.modules.get(module_name)
    module_file = getattr(module, "__file__", None)
    if module_file is None:
        try:
            module_file = inspect.getsourcefile(raw)
        except TypeError:
            module_file = None
    return FunctionDefinition(
        name=tag, app_name=app_name, module_name=module_name,
        module_file=os.path.abspath(module_file) if module_file else None,
        qualname=raw.__qualname__, sys_path=import_root(module_name, module_file),
        is_class=is_class, is_generator=is_generator, is_async=is_async,
        methods={name: MethodInfo(**info) for name, info in methods.items()},
        options=typed_options(options), image=image)


def typed_options(options: dict[str, Any]) -> FunctionOptions:
    """The decorators' checked keywords as `FunctionOptions` (a key it lacks is a bug here)."""
    unknown = set(options) - set(FunctionOptions.__struct_fields__)
    if unknown:
        raise exception.InternalError(f"options ketch does not describe: {sorted(unknown)}")
    return msgspec.convert(options, FunctionOptions)


def finalize(definition: FunctionDefinition, raw: Any) -> FunctionDefinition:
    """The definition to send: ``serialized=True`` functions are pickled now."""
    if not definition.options.serialized:
        return definition
    return replace(definition, serialized=serialize(raw, f"function {definition.name}"))


def snapshot(definition: FunctionDefinition) -> FunctionDefinition:
    """The definition with the source of its module (and its packages' ``__init__`` files)
    inside, so that a deployed version keeps running the code it was deployed with."""
    module_file, name = definition.module_file, definition.module_name
    if not module_file or definition.serialized or name == "__main__":
        return definition
    root = definition.sys_path[0]
    parts = name.split(".")
    paths = [os.path.join(root, *parts[:i], "__init__.py") for i in range(1, len(parts))]
    paths.append(module_file)
    files = {}
    for path in paths:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                files[os.path.relpath(path, root)] = f.read()
    return replace(definition, source=files)

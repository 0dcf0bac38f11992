"""Import the user's program for ``ketch run``, and find what to run in it."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from types import ModuleType
from typing import Any

import click

from ..app import App, LocalEntrypoint
from ..cls import Cls
from ..functions import Function


def module_name_for(path: str) -> tuple[str, str]:
    """(dotted module name, import root) for a file, walking up through packages."""
    path = os.path.abspath(path)
    directory, filename = os.path.split(path)
    parts = [os.path.splitext(filename)[0]]
    if parts[0] == "__init__":
        parts = []
    while os.path.exists(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    return ".".join(parts), directory


def import_program(ref: str, as_module: bool) -> ModuleType:
    """Import a file path or a dotted module name, with a clear error if it fails."""
    if not as_module and (ref.endswith(".py") or os.sep in ref):
        if not os.path.isfile(ref):
            raise click.UsageError(f"{ref} is not a file")
        name, root = module_name_for(ref)
    else:
        name, root = ref, os.getcwd()
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise click.UsageError(f"no module named {name!r} (from {root})") from None
        _import_failed(ref)
    except Exception:
        _import_failed(ref)
    raise AssertionError("unreachable")


def _import_failed(ref: str) -> None:
    text = traceback.format_exc()
    raise click.ClickException(f"{ref} failed to import; fix the error below and run again.\n{text}")


def apps_in(module: ModuleType) -> dict[str, App]:
    return {name: value for name, value in vars(module).items() if isinstance(value, App)}


def find_target(module: ModuleType, name: str | None) -> tuple[App, Any]:
    """The app and the entrypoint, function or class method that ``FILE::NAME`` names."""
    apps = apps_in(module)
    if not apps:
        raise click.UsageError(f"{module.__name__} defines no ketch.App")
    candidates: dict[str, tuple[App, Any]] = {}
    for var, app in apps.items():
        for label, target in _runnables(app):
            candidates[label] = (app, target)
            candidates[f"{var}.{label}"] = (app, target)
    if name is not None:
        if name in candidates:
            return candidates[name]
        if name in apps:
            return _default(apps[name], [name])
        raise click.UsageError(
            f"nothing named {name!r} to run in {module.__name__}; choose one of: "
            + ", ".join(sorted(label for label in candidates if "." not in label or _is_method(label)))
        )
    if len(apps) > 1:
        raise click.UsageError(
            f"{module.__name__} defines several apps ({', '.join(apps)}); name one: FILE::APP"
        )
    return _default(next(iter(apps.values())), list(apps))


def _is_method(label: str) -> bool:
    return label.count(".") == 1 and label.split(".")[0][:1].isupper()


def _runnables(app: App) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = list(app.registered_entrypoints.items())
    for tag, function in app.registered_functions.items():
        cls = app.registered_classes.get(tag)
        if cls is None:
            found.append((tag, function))
        else:
            found.extend((f"{tag}.{m}", (cls, m)) for m in cls._methods)
    return found


def _default(app: App, names: list[str]) -> tuple[App, Any]:
    entrypoints = list(app.registered_entrypoints.values())
    if len(entrypoints) == 1:
        return app, entrypoints[0]
    plain = [f for t, f in app.registered_functions.items() if t not in app.registered_classes]
    if not entrypoints and len(plain) == 1:
        return app, plain[0]
    choices = [label for label, _ in _runnables(app)]
    raise click.UsageError(
        "more than one thing to run; name one as FILE::NAME, from: " + ", ".join(choices)
    )


def signature_of(target: Any) -> inspect.Signature:
    if isinstance(target, LocalEntrypoint):
        return inspect.signature(target.raw_f)
    if isinstance(target, Function):
        return inspect.signature(target.raw_user_object)
    cls, method = target
    assert isinstance(cls, Cls)
    return inspect.signature(cls._methods[method].raw_f)

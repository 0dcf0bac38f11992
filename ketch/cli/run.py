"""``ketch run``: run an app's entrypoint (or a lone function) with the app running."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from typing import Any

import click

from .. import config, modal_alias, usage
from ..app import App, LocalEntrypoint
from ..functions import Function
from ..output import enable_output
from .importing import apps_in, find_target, import_program, signature_of

TYPES: dict[Any, Any] = {str: click.STRING, int: click.INT, float: click.FLOAT, bool: click.BOOL}


def _option(param: inspect.Parameter) -> click.Option:
    annotation = param.annotation
    if isinstance(annotation, str):
        annotation = {"str": str, "int": int, "float": float, "bool": bool}.get(annotation, str)
    if annotation is inspect.Parameter.empty:
        annotation = type(param.default) if param.default not in (inspect.Parameter.empty, None) else str
    if annotation not in TYPES:
        raise click.UsageError(
            f"parameter {param.name!r} has type {annotation!r}; entrypoint parameters may be "
            "str, int, float or bool"
        )
    required = param.default is inspect.Parameter.empty
    default = None if required else param.default
    dashed = param.name.replace("_", "-")
    names = [f"--{dashed}"] if dashed == param.name else [f"--{dashed}", f"--{param.name}"]
    if annotation is bool:
        return click.Option([f"{names[0]}/--no-{dashed}", param.name], default=bool(default),
                            required=required, help=f"(bool) default {default}")
    return click.Option([*names, param.name], type=TYPES[annotation], default=default,
                        required=required, show_default=not required)


def _parameters(target: Any) -> list[inspect.Parameter]:
    params = list(signature_of(target).parameters.values())
    if isinstance(target, tuple):
        params = params[1:]  # a method's self
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _call(app: App, target: Any, kwargs: dict[str, Any]) -> Any:
    if isinstance(target, LocalEntrypoint):
        result = target(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return result
    if isinstance(target, Function):
        if target.is_generator:
            return list(target.remote_gen(**kwargs))
        return target.remote(**kwargs)
    cls, method = target
    return getattr(cls(), method).remote(**kwargs)


async def _await(awaitable: Any) -> Any:
    return await awaitable


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("ref")
@click.option("-m", "as_module", is_flag=True, help="REF is a module name, as with python -m.")
@click.option("-q", "--quiet", is_flag=True, help="Do not stream the containers' output.")
@click.option("-d", "--detach", is_flag=True,
              help="Keep the app running on the server after this command exits.")
@click.option("--serve", "serving", is_flag=True, hidden=True,
              help="Run the app until interrupted, without an entrypoint (for ketch serve).")
@click.pass_context
def run(ctx: click.Context, ref: str, as_module: bool, quiet: bool, detach: bool,
        serving: bool) -> None:
    """Run REF (FILE.py[::NAME], pkg.module[::NAME] or -m pkg.module[::NAME]).

    NAME picks a local entrypoint, a function or Class.method; without it the app's only
    entrypoint runs (or its only function). The entrypoint's parameters become options.
    """
    modal_alias.install()
    from ..transport import embedded

    embedded.DASHBOARD = True  # if this run's control plane is embedded, it serves one
    module_ref, _, name = ref.partition("::")
    module = import_program(module_ref, as_module)
    if serving:
        serve_until_stopped(only_app(module, name or None))
        return
    app, target = find_target(module, name or None)
    command = click.Command(
        name=ref, params=[_option(p) for p in _parameters(target)],
        callback=lambda **kwargs: kwargs,
    )
    try:
        kwargs = command.main(ctx.args, prog_name=f"ketch run {ref}", standalone_mode=False)
    except click.ClickException:
        raise
    if detach and config.server_address() is None:
        click.echo("ketch: --detach needs a ketch server (KETCH_SERVER); this app stops when "
                   "the command exits.", err=True)
    if isinstance(kwargs, int):  # --help was shown
        sys.exit(kwargs)
    output = contextlib.nullcontext() if quiet else enable_output()
    with output, app.run(detach=detach):
        app_id = app.app_id
        _call(app, target, kwargs)
    if app_id is not None and not detach:
        click.echo(f"ketch: this run {usage.describe(usage.summary(app_id))}", err=True)


def only_app(module: Any, name: str | None) -> App:
    apps = apps_in(module)
    if name:
        if name not in apps:
            raise click.UsageError(f"no app {name!r} in {module.__name__}")
        return apps[name]
    if len(apps) != 1:
        raise click.UsageError(f"{module.__name__} defines {len(apps)} apps; name one: FILE::APP")
    return next(iter(apps.values()))


def serve_until_stopped(app: App) -> None:
    """Run the app, show its web endpoints, and wait for SIGINT or SIGTERM."""
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with enable_output(), app.run():
        for function in app.registered_functions.values():
            for name, url in function._web_urls().items():
                click.echo(f"  {name}: {url}")
        click.echo(f"ketch: serving {app.name or 'the app'}; press Ctrl-C to stop", err=True)
        stop.wait()

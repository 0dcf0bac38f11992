"""``ketch shell``: a shell in a sandbox made as a function's containers are, as ``modal shell``.

The sandbox gets the function's image, volumes, secrets, environment, cpu, memory and gpu,
belongs to an app of its own for the length of the command, and ends with the shell.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from .. import config, exception, modal_alias
from ..app import App, LocalEntrypoint
from ..client import send_blocking
from ..functions import Function
from ..image import Image
from ..protocol import client as protocol
from ..sandbox import Sandbox
from .importing import find_target, import_program
from .terminal import run_attached


@click.command()
@click.argument("ref", required=False)
@click.option("--cmd", default="/bin/bash", show_default=True,
              help="The command to run, split as a shell splits it.")
@click.option("-m", "as_module", is_flag=True, help="REF is a module name, as with python -m.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="End the sandbox after this many seconds, whatever it is doing.")
def shell(ref: str | None, cmd: str, as_module: bool, timeout: float) -> None:
    """Open a shell in a sandbox made like REF's containers.

    REF is FILE.py::FUNCTION (or Class.method, or -m pkg.module::FUNCTION): the sandbox gets
    its image, volumes, secrets, env, cpu, memory and gpu. Without REF, a sandbox on the
    default image. On a terminal the shell is interactive (ours in raw mode); otherwise --cmd
    runs with our stdin and stdout piped. The sandbox ends when the command exits, and this
    exits with its status.
    """
    argv = shlex.split(cmd)
    if not argv:
        raise click.UsageError("--cmd is empty; give a command, such as --cmd /bin/bash")
    options: dict[str, Any] = {}
    name = "shell"
    if ref:
        modal_alias.install()
        module_ref, _, target_name = ref.partition("::")
        app, target = find_target(import_program(module_ref, as_module), target_name or None)
        options = sandbox_options(app, function_of(target, ref))
        name = f"{app.name or 'app'}-shell"
    try:
        app_id = send_blocking(protocol.AppCreate(name=name, description="ketch shell",
                                                  environment=config.environment())).app_id
        try:
            shell_app = App(name)
            shell_app.app_id = app_id
            sandbox = Sandbox.create(app=shell_app, timeout=timeout, **options)
            code = run_attached(sandbox.object_id, argv, tty=sys.stdin.isatty())
        finally:
            send_blocking(protocol.AppStop(app_id=app_id))  # which ends its sandbox
    except exception.Error as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


def function_of(target: Any, ref: str) -> Function:
    if isinstance(target, Function):
        return target
    if isinstance(target, LocalEntrypoint):
        raise click.UsageError(f"{ref} is a local entrypoint, which runs here, not in a "
                               "container; name a function or Class.method")
    cls, _ = target
    return cls.service_function  # type: ignore[no-any-return]


def sandbox_options(app: App, function: Function) -> dict[str, Any]:
    """`Sandbox.create`'s keywords for a sandbox like the function's containers."""
    options = function.definition.options
    steps = function.definition.image

    def pair(value: Any) -> Any:  # the wire's [request, limit]
        return tuple(value) if isinstance(value, list) else value

    return {
        "image": Image(steps) if steps else None,
        "secrets": list(app._secrets_of.get(function.tag, [])),
        "volumes": dict(function.mounts),
        "env": options.env or None,
        "cpu": pair(options.cpu),
        "memory": pair(options.memory),
        "gpu": options.gpu,
        "block_network": options.block_network,
    }

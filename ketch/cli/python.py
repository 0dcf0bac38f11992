"""``ketch python``: run a plain script with ``import modal`` resolving to ketch."""

from __future__ import annotations

import os
import runpy
import sys

import click

from .. import modal_alias


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("script")
@click.option("-m", "as_module", is_flag=True,
              help="SCRIPT is a module name, run as python -m runs it.")
@click.pass_context
def python(ctx: click.Context, script: str, as_module: bool) -> None:
    """Run SCRIPT as __main__ (for scripts that call app.run() themselves)."""
    if as_module:
        modal_alias.install()
        sys.argv = [script, *ctx.args]
        sys.path.insert(0, os.getcwd())  # as python -m: the current directory comes first
        runpy.run_module(script, run_name="__main__", alter_sys=True)
        return
    if not os.path.isfile(script):
        raise click.UsageError(f"{script} is not a file (for a module name, use -m)")
    modal_alias.install()
    sys.argv = [script, *ctx.args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")

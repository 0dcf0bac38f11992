"""``ketch sandbox``: list the running sandboxes, run commands in one, read its output, stop it.

Sandboxes live on a ``ketch server`` (``KETCH_SERVER``): without one, each command would run a
control plane of its own, which holds no sandbox.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from .. import config, exception, synchronizer
from ..client import send, send_blocking
from ..protocol import client as protocol
from .pairs import parse_pairs
from .requests import as_dicts, call
from .terminal import run_attached

POLL_S = 50.0


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """ketch's errors as one line; a missing or ended sandbox's says where to find one."""
    try:
        yield
    except exception.NotFoundError as exc:
        where = "" if config.server_address() else (
            " (KETCH_SERVER is not set: sandboxes live on a `ketch server`, point KETCH_SERVER "
            "at it)")
        raise click.ClickException(f"{exc}; `ketch sandbox list` shows the running "
                                   f"sandboxes{where}") from None
    except exception.Error as exc:
        raise click.ClickException(str(exc)) from None


@click.group("sandbox")
def sandbox_group() -> None:
    """List sandboxes, run commands in them, read their output, stop them.

    Sandboxes live on the `ketch server` that KETCH_SERVER names.
    """


@sandbox_group.command("list")
@click.option("--app-id", help="Only the sandboxes of this app.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="Only sandboxes with this tag (repeat for several: all must match).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_sandboxes(app_id: str | None, tags: tuple[str, ...], as_json: bool) -> None:
    """List the running sandboxes."""
    wanted = parse_pairs(tags, "--tag")
    environment = config.environment()
    rows = as_dicts(call(protocol.SandboxList(app_id=app_id, tags=wanted or None,
                                              environment=environment)).sandboxes)
    names = {app.app_id: app.name
             for app in call(protocol.AppList(environment=environment)).apps}
    for row in rows:
        row["app_name"] = names.get(row["app_id"])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sandboxes")
    for column in ("id", "app", "name", "tags", "age", "runtime"):
        table.add_column(column, justify="right" if column == "age" else "left")
    for row in rows:
        tag_text = ", ".join(f"{k}={v}" for k, v in sorted(row["tags"].items()))
        table.add_row(row["sandbox_id"], row["app_name"] or row["app_id"], row["name"] or "",
                      tag_text, _age(time.time() - row["created"]), row["runtime"])
    Console().print(table)


def _age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


@sandbox_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("sandbox_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-t/-T", "--tty/--no-tty", default=None,
              help="Run it on a terminal, ours in raw mode (default: when stdin is one).")
@click.option("-w", "--workdir", help="The directory to run it in.")
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE",
              help="An environment variable for it (repeatable).")
def exec_(sandbox_id: str, command: tuple[str, ...], tty: bool | None, workdir: str | None,
          env: tuple[str, ...]) -> None:
    """Run COMMAND in a sandbox: ketch sandbox exec SANDBOX_ID -- CMD [ARGS]...

    Its output streams to ours as it comes and our stdin goes to it; this command exits with
    its exit status (128 + N when signal N ended it).
    """
    variables = parse_pairs(env, "--env")
    if tty is None:
        tty = sys.stdin.isatty()
    elif tty and not sys.stdin.isatty():
        raise click.UsageError("--tty needs a terminal on stdin; leave it out to pipe stdin")
    with errors():
        code = run_attached(sandbox_id, list(command), tty=tty, env=variables or None,
                            workdir=workdir)
    sys.exit(code)


@sandbox_group.command()
@click.argument("sandbox_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until it ends.")
def logs(sandbox_id: str, follow: bool) -> None:
    """Print the output of a sandbox's command.

    Its stdout goes to ours, its stderr to ours. Output is handed out once: what this prints,
    no later reader (another `logs`, or `sb.stdout.read()` in a program) gets again.
    """
    with errors():
        send_blocking(protocol.SandboxGet(sandbox_id=sandbox_id))
        try:
            synchronizer.run(_print_logs(sandbox_id, follow))
        except exception.NotFoundError:
            raise click.ClickException(
                f"sandbox {sandbox_id} runs no command, so it has no output of its own; "
                "read an exec's output from the process it gives") from None


async def _print_logs(sandbox_id: str, follow: bool) -> None:
    import asyncio

    async def stream(name: str, target: Any) -> None:
        cursor, eof = 0, False
        while not eof:
            answer = await send(protocol.ProcessOutput(
                sandbox_id=sandbox_id, process=0, stream=name,  # type: ignore[arg-type]
                cursor=cursor,
                timeout=POLL_S if follow else 0))
            cursor, eof = answer.cursor, answer.eof
            if answer.data:
                target.write(answer.data)
                target.flush()
            elif not follow:
                return

    await asyncio.gather(stream("stdout", sys.stdout.buffer), stream("stderr", sys.stderr.buffer))


@sandbox_group.command()
@click.argument("sandbox_id")
def stop(sandbox_id: str) -> None:
    """Terminate a sandbox, and say how it ended."""
    with errors():
        before = send_blocking(protocol.SandboxGet(sandbox_id=sandbox_id))
        info = send_blocking(protocol.SandboxTerminate(sandbox_id=sandbox_id))
    if before.done:
        click.echo(f"sandbox {sandbox_id} had already ended: {describe_end(info)}")
    elif info.done:
        click.echo(f"stopped sandbox {sandbox_id}: {describe_end(info)}")
    else:
        click.echo(f"sandbox {sandbox_id} is stopping (it did not end within 10 s)")


def describe_end(info: protocol.SandboxInfo) -> str:
    """How a sandbox ended, in words: ``terminated, exit status 137``."""
    text = f"{info.status}, exit status {info.returncode}"
    if info.reason and info.reason != info.status:
        text += f" ({info.reason})"
    return text

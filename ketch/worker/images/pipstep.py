"""A ``uv_pip_install`` step on this machine's OS: uv installs in a build container while
precompile.py, on the host, compiles the bytecode of what it guesses uv will install.

Most of such a step is uv's index check (the network), then compiling what uv installed. Here
uv installs without compiling, and the image's own interpreter (a host path: the image stands
on this machine's OS) runs precompile.py beside it, from when uv first speaks (so as not to
slow the build container's start) until the step is done; see that script for how it guesses
and when it compiles. A rooted image's interpreter is not the host's: its pip steps compile
with uv, in the build container (`buildbox.run` with ``bytecode``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import buildbox
from .buildbox import ImageBuildError, Log, uv_binary, uv_cache_dir
from .steps import VENV, describe, pip_args

if TYPE_CHECKING:
    from .builder import BuiltImage

PRECOMPILE = str(Path(__file__).with_name("precompile.py"))


def host_interpreter(image: BuiltImage) -> str | None:
    """The host's interpreter behind the virtualenv of an image on this machine's OS."""
    if image.rooted:
        return None
    for layer in reversed(image.layers):
        link = Path(layer) / VENV.lstrip("/") / "bin" / "python"
        if os.path.lexists(link):
            target = os.path.realpath(link)
            return target if link.is_symlink() and os.access(target, os.X_OK) else None
    return None


async def install(step: dict[str, Any], tmp: Path, image: BuiltImage, hide: list[str],
                  python: str, log: Log) -> None:
    """Build the ``pip`` step's layer in ``tmp``, its bytecode compiled by ``python``."""
    inputs = tmp / "inputs"
    inputs.mkdir()
    uv = uv_binary()
    settings = {"uv": uv, "guess": str(tmp / "guess"), "venv": VENV,
                "layer": str(tmp / "fs" / VENV.lstrip("/")),
                "args": pip_args(step, inputs, str(inputs)) + _extra(step)}
    env = {**os.environ, **image.env, "UV_CACHE_DIR": uv_cache_dir(uv),
           "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    speaking = asyncio.Event()

    def heard(line: str) -> None:
        speaking.set()
        log(line)

    run = asyncio.ensure_future(buildbox.run(step, tmp, image, hide, None, heard, False))
    spoke = asyncio.ensure_future(speaking.wait())
    await asyncio.wait([run, spoke], return_when=asyncio.FIRST_COMPLETED)
    spoke.cancel()
    if run.done():
        run.result()  # a step that failed before uv spoke raises here: nothing to compile
    compiler = await asyncio.create_subprocess_exec(
        python, "-I", "-S", PRECOMPILE, json.dumps(settings), env=env, start_new_session=True,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        await run
        _, errors = await compiler.communicate(b"compile\n")
    finally:
        run.cancel()
        if compiler.returncode is None:
            await _stop(compiler)
        shutil.rmtree(tmp / "guess", ignore_errors=True)
    if compiler.returncode != 0:
        raise ImageBuildError(
            f"image step {describe(step)} installed, but compiling its bytecode failed "
            f"(exit status {compiler.returncode}); nothing of it was cached. Its output:\n"
            f"{errors.decode(errors='replace')[-4000:]}")


async def _stop(compiler: asyncio.subprocess.Process) -> None:
    """Kill the compiler and what it started (its guess's uv, its pool of processes), and
    wait until none is left that could still write into the layer's folder."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(compiler.pid, signal.SIGKILL)
    await compiler.wait()
    for _ in range(300):
        try:
            os.killpg(compiler.pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.01)


def _extra(step: dict[str, Any]) -> list[str]:
    """``extra_options`` as arguments, for the guess (none where the shell's words are not
    plain: a guess that differs costs only time)."""
    try:
        return shlex.split(step.get("extra_options") or "")
    except ValueError:
        return []

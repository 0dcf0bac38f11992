"""A sandbox's options and commands, checked on the control plane: `InvalidError` naming the
fix for anything wrong, before anything starts. (The SDK checks types first, at the call.)"""

from __future__ import annotations

from typing import Any

from .. import exception
from ..protocol.definition import SandboxDefinition, replace
from ..protocol.worker import parse_allowlist

DEFAULT_TIMEOUT_S = 300.0
MAX_TIMEOUT_S = 24 * 3600


def check_argv(argv: Any) -> None:
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise exception.InvalidError(
            "a command is one or more strings, as in sb.exec(\"python\", \"-c\", \"print(1)\")")


def check_size(size: Any) -> dict[str, int]:
    """A terminal's ``{rows, cols}``, checked."""
    if not isinstance(size, dict) or not all(
            isinstance(size.get(k), int) and not isinstance(size.get(k), bool)
            and 0 < size[k] < 1 << 16 for k in ("rows", "cols")):
        raise exception.InvalidError(f"a terminal's size is {{'rows': int, 'cols': int}}, each "
                                     f"from 1 to 65535, not {size!r}")
    return {"rows": size["rows"], "cols": size["cols"]}


def check_definition(definition: SandboxDefinition) -> SandboxDefinition:
    """The sandbox's options (their types already decoded), checked, with its timeout set;
    `InvalidError` naming the fix for anything wrong."""
    if definition.command:
        check_argv(definition.command)
    timeout = DEFAULT_TIMEOUT_S if definition.timeout is None else definition.timeout
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise exception.InvalidError(f"timeout={timeout!r}: give seconds, more than 0 and at "
                                     f"most {MAX_TIMEOUT_S}")
    idle = definition.idle_timeout
    if idle is not None and idle <= 0:
        raise exception.InvalidError(f"idle_timeout={idle!r}: give seconds, more than 0")
    allowlist = definition.cidr_allowlist
    if allowlist is not None:
        try:  # the very check the worker makes: what passes here, the sandbox's network takes
            parse_allowlist(allowlist)
        except ValueError as exc:
            raise exception.InvalidError(str(exc)) from None
        if definition.block_network:
            raise exception.InvalidError("block_network=True allows no traffic at all; drop "
                                         "cidr_allowlist, or set block_network=False")
    return replace(definition, timeout=float(timeout))

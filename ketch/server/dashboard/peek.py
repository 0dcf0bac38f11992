"""A look at a pickled dict entry or queue item without running it.

Keys, values and items travel pickled by whoever put them; unpickling runs code the pickle
names, so the control plane never does it for a page. Plain data (strings, numbers, bytes,
lists, tuples, dicts, sets, booleans, None) loads with an unpickler that refuses every class
and callable; anything else is named by the classes its pickle refers to, read from its
opcodes.

Example::

    describe(pickle.dumps({"a": 1}))          # "{'a': 1}"
    describe(cloudpickle.dumps(Point(1, 2)))  # "a pickled __main__.Point (87 bytes)"
"""

from __future__ import annotations

import io
import pickle
import pickletools
from typing import Any

MAX_SHOWN = 300  # characters of a value's repr on a page
# constructors that make plain data of plain arguments (older protocols pickle sets with them)
SAFE = {(module, name) for module in ("builtins", "__builtin__")
        for name in ("set", "frozenset", "bytearray", "complex")}


class _PlainOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def describe(data: bytes) -> str:
    """What a page shows of a pickled value: its repr, cut to `MAX_SHOWN` characters, or
    the classes it names."""
    try:
        value = _PlainOnly(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - bytes put by a user's program: anything may be wrong
        return f"a pickled {_classes(data) or 'object'} ({len(data)} bytes)"
    shown = repr(value)
    return shown if len(shown) <= MAX_SHOWN else shown[:MAX_SHOWN] + "…"


def _classes(data: bytes) -> str:
    """The ``module.name`` of the classes a pickle refers to, read without running it."""
    names: list[str] = []
    pushed: list[str] = []  # the strings pushed just before, which STACK_GLOBAL takes
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                pushed.append(str(arg))
            elif opcode.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(pushed) >= 2:
                names.append(f"{pushed[-2]}.{pushed[-1]}")
            if opcode.name not in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "MEMOIZE",
                                   "PUT", "BINPUT", "LONG_BINPUT"):
                pushed.clear()
    except Exception:  # noqa: BLE001 - a broken pickle: say what was read of it
        pass
    shown = [n for n in dict.fromkeys(names) if not n.startswith(("copyreg.", "builtins.", "__builtin__."))]
    return ", ".join(shown[:3])

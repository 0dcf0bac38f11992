"""Typed messages: the base of every request, answer and record that crosses a process boundary.

A message is a msgspec ``Struct`` that travels as a msgpack array of its fields in order
(``array_like``), which keeps a batch of thousands of records as cheap as hand-built lists
while every field has a name and a type. One `encode` and one `decode` per message: a body that
does not match its type is refused with `InvalidError` naming the field, before any handler
sees it.

A request type names its kind and its answer type::

    class DictLen(Request):
        KIND: ClassVar[str] = "dict_len"
        ANSWER: ClassVar[type[Answer]] = Length
        dict_id: str
"""

from __future__ import annotations

import re
import typing
from typing import Any, ClassVar, TypeVar, overload

import msgspec

from .. import exception

T = TypeVar("T")


class Message(msgspec.Struct, array_like=True, kw_only=True):
    """A record with named, typed fields that travels as an array."""


class Answer(Message):
    """What a request gets back."""


class Empty(Answer):
    """The answer of a request that returns nothing."""


class Request(Message):
    """A request of one kind; `KINDS` maps each kind to its type."""

    KIND: ClassVar[str] = ""
    ANSWER: ClassVar[type[Answer]] = Empty

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            if cls.KIND in KINDS:
                raise TypeError(f"two request types of kind {cls.KIND!r}")
            KINDS[cls.KIND] = cls


KINDS: dict[str, type[Request]] = {}

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}
_PATH = re.compile(r"\$((?:\[\d+\]|\.[A-Za-z_]\w*|\[\.\.\.\])*)")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


@overload
def decode(data: bytes | msgspec.Raw, type_: type[T], what: str = "message") -> T: ...


@overload
def decode(data: bytes | msgspec.Raw, type_: Any, what: str = "message") -> Any: ...


def decode(data: bytes | msgspec.Raw, type_: Any, what: str = "message") -> Any:
    """``data`` as a ``type_`` (a message type, or any type msgspec knows: ``list[int]``,
    ``Any``), or `InvalidError` naming the field that does not fit."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.msgpack.Decoder(type_)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise exception.InvalidError(f"{what}: {_named(str(exc), type_)}") from None
    except msgspec.DecodeError as exc:
        raise exception.InvalidError(f"{what} is not valid msgpack: {exc}") from None


def request_type(kind: str) -> type[Request]:
    try:
        return KINDS[kind]
    except KeyError:
        raise exception.InvalidError(f"unknown request {kind!r}") from None


def convert(value: Any, type_: type[T], what: str = "message") -> T:
    """A plain value (lists and dicts) as a ``type_``, checked as `decode` checks."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise exception.InvalidError(f"{what}: {_named(str(exc), type_)}") from None


def _named(text: str, type_: Any) -> str:
    """msgspec's ``- at `$[2][0]``` with the fields' names: ``- at `records[0]``` ."""
    match = _PATH.search(text)
    if match is None:
        return text
    steps = re.findall(r"\[(\d+|\.\.\.)\]|\.(\w+)", match.group(1))
    names: list[str] = []
    current: Any = type_
    for index, key in steps:
        current = _unwrap(current)
        if index and index != "..." and isinstance(current, type) \
                and issubclass(current, msgspec.Struct):
            field = msgspec.structs.fields(current)[int(index)]
            names.append(("." if names else "") + field.name)
            current = field.type
            continue
        names.append(f"[{index}]" if index else f".{key}")
        args = typing.get_args(current)
        current = args[-1] if args else Any
    where = "".join(names) or "the message"
    return re.sub(r"\s*-\s*at\s*`?$", "", text[: match.start()]) + f" (field `{where}`)"


def _unwrap(type_: Any) -> Any:
    """The one non-None member of an optional type."""
    args = [a for a in typing.get_args(type_) if a is not type(None)]
    if type(None) in typing.get_args(type_) and len(args) == 1:
        return args[0]
    return type_

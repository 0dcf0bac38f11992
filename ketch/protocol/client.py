"""Requests from the SDK (and the CLI) to the control plane.

Every request is ``(kind, body)``; the control plane method of the same name answers it. The
same pairs travel in-process (embedded control plane) and over a socket (``ketch server``).

========================  ===============================================  =====================
request                   body                                             answer
========================  ===============================================  =====================
``app_create``            name, description                                {app_id}
``app_stop``              app_id                                           {}
``function_create``       app_id, definition (see `ketch.definition`)      {function_id}
``function_bind``         function_id, params (pickled kwargs)             {function_id}
``call_create``           function_id, kind ("remote"|"map"|"spawn"),      {call_id}
                          records (optional: all the call's inputs)
``inputs_put``            call_id, records ``[index, method, args, blob]``  {}
``inputs_done``           call_id, count                                   {}
``outputs_get``           call_id, cursor, timeout                         {outputs, cursor, done}
``call_cancel``           call_id, terminate_containers                    {}
``call_forget``           call_id                                          {}
``logs_get``              app_id, cursor, timeout                          {lines, cursor}
``usage_query``           group_by, since, until, app_id                   {rows}
``blob_put``              data                                             {blob_id}
``blob_get``              blob_id                                          {data}
========================  ===============================================  =====================

Output records handed to the SDK are ``[index, status, data, blob_id]``, status from
`ketch.protocol.container.Status`. Log lines are ``[function, container_id, stream, text]``.
"""

from __future__ import annotations

from typing import Any

Request = tuple[str, dict[str, Any]]


def app_create(name: str, description: str = "") -> Request:
    return "app_create", {"name": name, "description": description}


def app_stop(app_id: str) -> Request:
    return "app_stop", {"app_id": app_id}


def function_create(app_id: str, definition: dict[str, Any]) -> Request:
    return "function_create", {"app_id": app_id, "definition": definition}


def function_bind(function_id: str, params: bytes) -> Request:
    return "function_bind", {"function_id": function_id, "params": params}


def call_create(function_id: str, kind: str, records: list[list[Any]] | None = None) -> Request:
    """Start a call; with ``records``, these are all its inputs (one round trip for .remote)."""
    return "call_create", {"function_id": function_id, "kind": kind, "records": records}


def input_record(index: int, method: str | None, args: bytes | None, blob_id: str | None) -> list[Any]:
    return [index, method, args, blob_id]


def inputs_put(call_id: str, records: list[list[Any]]) -> Request:
    return "inputs_put", {"call_id": call_id, "records": records}


def inputs_done(call_id: str, count: int) -> Request:
    return "inputs_done", {"call_id": call_id, "count": count}


def outputs_get(call_id: str, cursor: int, timeout: float | None) -> Request:
    return "outputs_get", {"call_id": call_id, "cursor": cursor, "timeout": timeout}


def outputs_answer(outputs: list[list[Any]], cursor: int, done: bool) -> dict[str, Any]:
    return {"outputs": outputs, "cursor": cursor, "done": done}


def call_cancel(call_id: str, terminate_containers: bool) -> Request:
    return "call_cancel", {"call_id": call_id, "terminate_containers": terminate_containers}


def call_forget(call_id: str) -> Request:
    return "call_forget", {"call_id": call_id}


def logs_get(app_id: str, cursor: int, timeout: float | None) -> Request:
    return "logs_get", {"app_id": app_id, "cursor": cursor, "timeout": timeout}


def usage_query(group_by: str, since: float | None = None, until: float | None = None,
                app_id: str | None = None) -> Request:
    return "usage_query", {"group_by": group_by, "since": since, "until": until, "app_id": app_id}


def blob_put(data: bytes) -> Request:
    return "blob_put", {"data": data}


def blob_get(blob_id: str) -> Request:
    return "blob_get", {"blob_id": blob_id}


def function_definition(
    *, name: str, app_name: str, module_name: str, module_file: str | None, qualname: str,
    sys_path: list[str], serialized: bytes | None, is_class: bool, is_generator: bool,
    is_async: bool, methods: dict[str, dict[str, bool]], options: dict[str, Any],
    image: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the control plane stores for a function and hands to its containers."""
    return {
        "name": name, "app_name": app_name, "module_name": module_name,
        "module_file": module_file, "qualname": qualname, "sys_path": sys_path,
        "serialized": serialized, "is_class": is_class, "is_generator": is_generator,
        "is_async": is_async, "methods": methods, "options": options, "image": image,
    }

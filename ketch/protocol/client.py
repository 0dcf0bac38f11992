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

Named objects (dicts, queues, secrets, volumes) have requests of their own, listed after
`blob_get` below; their keys and values travel pickled, as bytes.

Output records handed to the SDK are ``[index, status, data, blob_id]``, status from
`ketch.protocol.container.Status`. Log lines are ``[function, container_id, stream, text]``.
"""

from __future__ import annotations

from typing import Any

Request = tuple[str, dict[str, Any]]


def auth(credentials: dict[str, str]) -> Request:
    """The first request on a connection: ``{token_id, secret}`` or, from a container's code,
    ``{container_id, secret}``. Answer: {kind}."""
    return "auth", credentials


def client_hello() -> Request:
    """Check the connection (any caller with a token). Answer: {version}."""
    return "client_hello", {}


def function_update_autoscaler(function_id: str, settings: dict[str, Any]) -> Request:
    """Override min/max/buffer containers and scaledown_window until the next deploy."""
    return "function_update_autoscaler", {"function_id": function_id, "settings": settings}


def web_url(function_id: str, method: str | None = None) -> Request:
    """The URL of a web endpoint (a class's web method with ``method``). Answer: {url}."""
    return "web_url", {"function_id": function_id, "method": method}


def token_create(kind: str) -> Request:
    """A new "user" or "proxy" token. Answer: {token_id, token_secret}."""
    return "token_create", {"kind": kind}


def token_list() -> Request:
    return "token_list", {}


def token_revoke(token_id: str) -> Request:
    return "token_revoke", {"token_id": token_id}


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
    image: list[dict[str, Any]] | None = None, volumes: dict[str, str] | None = None,
    secrets: list[str] | None = None,
) -> dict[str, Any]:
    """What the control plane stores for a function and hands to its containers."""
    return {
        "name": name, "app_name": app_name, "module_name": module_name,
        "module_file": module_file, "qualname": qualname, "sys_path": sys_path,
        "serialized": serialized, "is_class": is_class, "is_generator": is_generator,
        "is_async": is_async, "methods": methods, "options": options, "image": image,
        "volumes": volumes or {},  # mount path -> volume id, filled in when the app starts
        "secrets": secrets or [],  # secret ids (never values), filled in when the app starts
    }


# -- named objects --------------------------------------------------------------------------------


def object_lookup(kind: str, name: str, create_if_missing: bool = False) -> Request:
    """Answer: {object_id, created}."""
    return "object_lookup", {"kind": kind, "name": name, "create_if_missing": create_if_missing}


def object_create_ephemeral(kind: str) -> Request:
    """An unnamed object that lives until released. Answer: {object_id}."""
    return "object_create_ephemeral", {"kind": kind}


def object_release(object_id: str) -> Request:
    return "object_release", {"object_id": object_id}


def object_delete(kind: str, name: str) -> Request:
    return "object_delete", {"kind": kind, "name": name}


def object_list(kind: str) -> Request:
    """Answer: {objects: [{name, id, created}]}."""
    return "object_list", {"kind": kind}


def object_rename(kind: str, name: str, new_name: str) -> Request:
    return "object_rename", {"kind": kind, "name": name, "new_name": new_name}


# -- dicts: keys and values are pickled bytes -------------------------------------------------


def dict_get(dict_id: str, key: bytes) -> Request:
    """Answer: {found, value}."""
    return "dict_get", {"dict_id": dict_id, "key": key}


def dict_put(dict_id: str, key: bytes, value: bytes, skip_if_exists: bool = False) -> Request:
    """Answer: {created}: False when skip_if_exists found the key already there."""
    return "dict_put", {"dict_id": dict_id, "key": key, "value": value,
                        "skip_if_exists": skip_if_exists}


def dict_update(dict_id: str, items: list[list[bytes]]) -> Request:
    return "dict_update", {"dict_id": dict_id, "items": items}


def dict_pop(dict_id: str, key: bytes) -> Request:
    """Answer: {found, value}."""
    return "dict_pop", {"dict_id": dict_id, "key": key}


def dict_contains(dict_id: str, key: bytes) -> Request:
    """Answer: {found}."""
    return "dict_contains", {"dict_id": dict_id, "key": key}


def dict_len(dict_id: str) -> Request:
    """Answer: {len}."""
    return "dict_len", {"dict_id": dict_id}


def dict_items(dict_id: str) -> Request:
    """Answer: {items: [[key, value], ...]} in insertion order."""
    return "dict_items", {"dict_id": dict_id}


def dict_clear(dict_id: str) -> Request:
    return "dict_clear", {"dict_id": dict_id}


# -- queues: values are pickled bytes; partition None is the default partition --------------


def queue_put(queue_id: str, values: list[bytes], partition: str | None,
              timeout: float | None) -> Request:
    """Waits up to ``timeout`` (None: forever, 0: not at all) for room. Answer: {}."""
    return "queue_put", {"queue_id": queue_id, "values": values, "partition": partition,
                         "timeout": timeout}


def queue_get(queue_id: str, n: int, partition: str | None, timeout: float | None) -> Request:
    """Up to ``n`` values, waiting up to ``timeout`` for the first. Answer: {values}."""
    return "queue_get", {"queue_id": queue_id, "n": n, "partition": partition,
                         "timeout": timeout}


def queue_len(queue_id: str, partition: str | None, total: bool) -> Request:
    """Answer: {len}."""
    return "queue_len", {"queue_id": queue_id, "partition": partition, "total": total}


def queue_clear(queue_id: str, partition: str | None, all: bool) -> Request:
    return "queue_clear", {"queue_id": queue_id, "partition": partition, "all": all}


def queue_peek(queue_id: str, n: int, partition: str | None) -> Request:
    """The first ``n`` values without removing them. Answer: {values}."""
    return "queue_peek", {"queue_id": queue_id, "n": n, "partition": partition}


# -- secrets ------------------------------------------------------------------------------------


def secret_create(name: str | None, values: dict[str, str], overwrite: bool = False) -> Request:
    """A named secret, or an ephemeral one when name is None. Answer: {secret_id}."""
    return "secret_create", {"name": name, "values": values, "overwrite": overwrite}


def secret_lookup(name: str, required_keys: list[str]) -> Request:
    """Answer: {secret_id}; NotFoundError naming what is missing."""
    return "secret_lookup", {"name": name, "required_keys": required_keys}


# -- volumes: paths are inside the volume ---------------------------------------------------


def volume_listdir(volume_id: str, path: str, recursive: bool) -> Request:
    """Answer: {entries: [{path, type ("file"|"directory"|"symlink"), size, mtime}]}."""
    return "volume_listdir", {"volume_id": volume_id, "path": path, "recursive": recursive}


def volume_read(volume_id: str, path: str, offset: int, length: int) -> Request:
    """Answer: {data, size}."""
    return "volume_read", {"volume_id": volume_id, "path": path, "offset": offset,
                           "length": length}


def volume_upload(volume_id: str, path: str, offset: int, data: bytes, upload_id: str | None
                  ) -> Request:
    """Write a chunk of a file into an upload (a new one when upload_id is None).
    Answer: {upload_id}."""
    return "volume_upload", {"volume_id": volume_id, "path": path, "offset": offset,
                             "data": data, "upload_id": upload_id}


def volume_upload_commit(volume_id: str, upload_id: str, force: bool) -> Request:
    """Make an upload's files part of the volume (a new version). Without ``force`` an upload
    that would overwrite a file fails."""
    return "volume_upload_commit", {"volume_id": volume_id, "upload_id": upload_id,
                                    "force": force}


def volume_remove(volume_id: str, path: str, recursive: bool) -> Request:
    return "volume_remove", {"volume_id": volume_id, "path": path, "recursive": recursive}


def volume_copy(volume_id: str, src_paths: list[str], dst_path: str) -> Request:
    return "volume_copy", {"volume_id": volume_id, "src_paths": src_paths, "dst_path": dst_path}


def volume_commit(volume_id: str, container_id: str) -> Request:
    """From a container: make its changes under the volume's mount the volume's latest state."""
    return "volume_commit", {"volume_id": volume_id, "container_id": container_id}


def volume_reload(volume_id: str, container_id: str) -> Request:
    """From a container: where the latest version is, to mount it. Answer: {version}."""
    return "volume_reload", {"volume_id": volume_id, "container_id": container_id}


# -- deployments ----------------------------------------------------------------------------------


def function_lookup(app_name: str, tag: str) -> Request:
    """A deployed app's function. Answer: {function_id, definition}."""
    return "function_lookup", {"app_name": app_name, "tag": tag}


def app_deploy(app_id: str) -> Request:
    """Make a running app (created and filled with functions) the deployed version of its name,
    stopping the version it replaces. Answer: {version}."""
    return "app_deploy", {"app_id": app_id}


def app_list() -> Request:
    """Answer: {apps: [{app_id, name, state, version, created, stopped}]}."""
    return "app_list", {}


def app_stop_by_name(name: str) -> Request:
    return "app_stop_by_name", {"name": name}


def app_history(name: str) -> Request:
    """Answer: {versions: [{version, app_id, created, state}]}."""
    return "app_history", {"name": name}


def app_rollback(name: str, version: int | None) -> Request:
    """Deploy an earlier version's functions again, as a new version. Answer: {version}."""
    return "app_rollback", {"name": name, "version": version}


def app_logs(name: str, since: float | None, function: str | None, cursor: int | None,
             timeout: float | None) -> Request:
    """Stored log lines of the app's versions. Answer: {lines: [[ts, function, container,
    stream, text]], cursor}."""
    return "app_logs", {"name": name, "since": since, "function": function, "cursor": cursor,
                        "timeout": timeout}


def logs_query(object_id: str, *, since: float | None = None, until: float | None = None,
               source: str | None = None, search: str = "", tail: int | None = None,
               after: int | None = None, timeout: float | None = None) -> Request:
    """The stored lines of an app (ap-), function or server (fu-) or call (fc-), answered by
    `ketch.server.log_queries`. Answer: {lines: [[id, ts, source, text, container_id,
    call_id]], cursor, done, now}."""
    return "logs_query", {"object_id": object_id, "since": since, "until": until,
                          "source": source, "search": search, "tail": tail, "after": after,
                          "timeout": timeout}


def sandbox_snapshot_memory(sandbox_id: str) -> Request:
    """Snapshot a running gVisor sandbox's memory and files (`ketch.server.sandbox_snapshots`).
    Answer: {snapshot_id}."""
    return "sandbox_snapshot_memory", {"sandbox_id": sandbox_id}


def sandbox_snapshot_get(snapshot_id: str) -> Request:
    """Answer: {snapshot_id, created, source}."""
    return "sandbox_snapshot_get", {"snapshot_id": snapshot_id}


def sandbox_restore(snapshot_id: str, name: str | None) -> Request:
    """A new sandbox from a snapshot, its processes going on. Answer: {sandbox_id}."""
    return "sandbox_restore", {"snapshot_id": snapshot_id, "name": name}


# -- sandboxes (answered by `ketch.server.sandboxes`) ------------------------------------------
# A sandbox is described as ``{sandbox_id, app_id, name, tags, created, runtime, returncode,
# reason, status, done, command}``; status is "running", "completed", "failed", "terminated" or
# "timeout". Its processes are numbered: 0 is its command, then one per exec.


def app_lookup(name: str, create_if_missing: bool) -> Request:
    """A running or deployed app by name. Answer: {app_id}."""
    return "app_lookup", {"name": name, "create_if_missing": create_if_missing}


def sandbox_create(app_id: str | None, definition: dict[str, Any]) -> Request:
    """``definition``: command, image (steps), secrets (ids), env, volumes (mount → id), cpu,
    memory, gpu, timeout, idle_timeout, workdir, block_network, cidr_allowlist, name, runtime,
    ports, readiness_probe. Answer: {sandbox_id}."""
    return "sandbox_create", {"app_id": app_id, "definition": definition}


def sandbox_wait(sandbox_id: str, timeout: float | None) -> Request:
    """Wait up to ``timeout`` for it to end. Answer: its description."""
    return "sandbox_wait", {"sandbox_id": sandbox_id, "timeout": timeout}


def sandbox_terminate(sandbox_id: str) -> Request:
    return "sandbox_terminate", {"sandbox_id": sandbox_id}


def sandbox_get(sandbox_id: str) -> Request:
    return "sandbox_get", {"sandbox_id": sandbox_id}


def sandbox_list(app_id: str | None, tags: dict[str, str] | None) -> Request:
    """Running sandboxes. Answer: {sandboxes: [description]}."""
    return "sandbox_list", {"app_id": app_id, "tags": tags}


def sandbox_tags_set(sandbox_id: str, tags: dict[str, str]) -> Request:
    return "sandbox_tags_set", {"sandbox_id": sandbox_id, "tags": tags}


def sandbox_from_name(app_name: str, name: str) -> Request:
    return "sandbox_from_name", {"app_name": app_name, "name": name}


def sandbox_exec(sandbox_id: str, argv: list[str], workdir: str | None,
                 env: dict[str, str] | None, timeout: float | None, secrets: list[str],
                 piping: dict[str, str], pty: dict[str, int] | None = None) -> Request:
    """``piping``: {stdout, stderr}, each "pipe" or "devnull". ``pty``: {rows, cols} to run it
    on a terminal (all its output then comes as stdout). Answer: {process}."""
    body: dict[str, Any] = {"sandbox_id": sandbox_id, "argv": argv, "workdir": workdir,
                            "env": env, "timeout": timeout, "secrets": secrets,
                            "piping": piping}
    if pty is not None:
        body["pty"] = pty
    return "sandbox_exec", body


def process_stdin(sandbox_id: str, process: int, data: bytes, eof: bool) -> Request:
    return "process_stdin", {"sandbox_id": sandbox_id, "process": process, "data": data,
                             "eof": eof}


def process_output(sandbox_id: str, process: int, stream: str, cursor: int,
                   timeout: float | None) -> Request:
    """``stream``: "stdout" or "stderr". Answer: {data, cursor, eof}."""
    return "process_output", {"sandbox_id": sandbox_id, "process": process, "stream": stream,
                              "cursor": cursor, "timeout": timeout}


def process_wait(sandbox_id: str, process: int, timeout: float | None) -> Request:
    """Answer: {returncode} (None while it runs)."""
    return "process_wait", {"sandbox_id": sandbox_id, "process": process, "timeout": timeout}


def process_signal(sandbox_id: str, process: int, signal: int) -> Request:
    return "process_signal", {"sandbox_id": sandbox_id, "process": process, "signal": signal}


def process_resize(sandbox_id: str, process: int, rows: int, cols: int) -> Request:
    """A new size for the terminal of a process started with ``pty``."""
    return "process_resize", {"sandbox_id": sandbox_id, "process": process, "rows": rows,
                              "cols": cols}


def sandbox_file(sandbox_id: str, meta: dict[str, Any], data: bytes = b"") -> Request:
    """A file operation inside the sandbox (``meta``: see `ketch.protocol.supervisor`).
    Answer: {meta, data}; ``meta["error"]`` when it failed."""
    return "sandbox_file", {"sandbox_id": sandbox_id, "meta": meta, "data": data}


def sandbox_snapshot(sandbox_id: str) -> Request:
    """Its files as an image. Answer: {steps} (`ketch.Image`'s)."""
    return "sandbox_snapshot", {"sandbox_id": sandbox_id}


def nfs_write(nfs_id: str, path: str, data: bytes) -> Request:
    """Answer: {bytes}."""
    return "nfs_write", {"nfs_id": nfs_id, "path": path, "data": data}


def nfs_read(nfs_id: str, path: str) -> Request:
    """Answer: {data}."""
    return "nfs_read", {"nfs_id": nfs_id, "path": path}


def nfs_listdir(nfs_id: str, path: str, recursive: bool) -> Request:
    """Answer: {entries: [{path, type, size, mtime}]}."""
    return "nfs_listdir", {"nfs_id": nfs_id, "path": path, "recursive": recursive}


def nfs_remove(nfs_id: str, path: str, recursive: bool) -> Request:
    """Answer: {}."""
    return "nfs_remove", {"nfs_id": nfs_id, "path": path, "recursive": recursive}


def forward_open(container_id: str, port: int, unencrypted: bool) -> Request:
    """Answer: {host, port}: where on the control plane's machine the port is reached."""
    return "forward_open", {"container_id": container_id, "port": port,
                            "unencrypted": unencrypted}


def forward_close(container_id: str, port: int) -> Request:
    """Answer: {}."""
    return "forward_close", {"container_id": container_id, "port": port}


def sandbox_tunnels(sandbox_id: str) -> Request:
    """Answer: {tunnels: {port: [host, port]}}."""
    return "sandbox_tunnels", {"sandbox_id": sandbox_id}


def sandbox_ready(sandbox_id: str, timeout: float | None) -> Request:
    """Wait for its readiness probe. Answer: {ready, done, reason}."""
    return "sandbox_ready", {"sandbox_id": sandbox_id, "timeout": timeout}

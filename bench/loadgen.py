"""A small HTTP/1.1 load generator for the web measurements h) and i): keep-alive connections
over asyncio streams, with a hand-written response parser.

It is run as a subprocess (``python bench/loadgen.py URL --requests N --concurrency C``) so that
it does not share a GIL with ketch's gateway, which runs in the bench process; the same program
loads both ketch and plain uvicorn. It is cheaper per request than httpx, which matters on two
cores, where the generator competes with the servers for CPU. It prints one JSON object:
``seconds`` (from opening the first connection to the last answer), ``requests``,
``statuses`` (answers per status code; 0 counts a connection error or a malformed answer) and
``latencies_ms`` (each request's, from writing it to reading the last byte of its answer, in
the order they ended).

`first_answer` is j)'s probe: one GET, retried while the port refuses connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from urllib.parse import urlsplit

CONNECTION_ERROR = 0  # the status recorded for a request that got no answer


class Target:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// URL, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                        "User-Agent: ketch-bench\r\nAccept: */*\r\n\r\n").encode()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)


async def get(target: Target, reader: asyncio.StreamReader,
              writer: asyncio.StreamWriter) -> tuple[int, bool]:
    """One GET on an open connection: its status, and whether the connection can be reused.
    The body is read (by Content-Length, chunked, or to the end) and dropped."""
    writer.write(target.request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip().lower()
    keep_alive = headers.get("connection") != "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
                    pass
                break
            await reader.readexactly(size + 2)
    elif status >= 200 and status not in (204, 304):
        await reader.read()  # delimited by the end of the connection
        keep_alive = False
    return status, keep_alive


async def load(url: str, requests: int, concurrency: int) -> dict[str, object]:
    """``requests`` GETs of ``url`` over ``concurrency`` keep-alive connections."""
    target = Target(url)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        connection = None
        try:
            while remaining > 0:
                remaining -= 1
                try:
                    if connection is None:
                        connection = await target.connect()
                    sent = time.perf_counter()
                    status, keep_alive = await get(target, *connection)
                    latencies.append(round((time.perf_counter() - sent) * 1000, 3))
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ValueError, IndexError):
                    status, keep_alive = CONNECTION_ERROR, False
                statuses[status] += 1
                if not keep_alive and connection is not None:
                    connection[1].close()
                    connection = None
        finally:
            if connection is not None:
                connection[1].close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "requests": sum(statuses.values()),
            "statuses": {str(code): n for code, n in sorted(statuses.items())},
            "latencies_ms": latencies}


async def first_answer(url: str, timeout: float, retry_s: float = 0.002) -> int:
    """The status of one GET of ``url``, retried every ``retry_s`` while nothing listens."""
    target = Target(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reader, writer = await target.connect()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listened at {url} within {timeout:g} s") from None
            await asyncio.sleep(retry_s)
            continue
        try:
            status, _ = await get(target, reader, writer)
            return status
        finally:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0,
                        help="untimed requests first, over connections of their own")
    args = parser.parse_args()
    if args.warmup:
        asyncio.run(load(args.url, args.warmup, args.concurrency))
    print(json.dumps(asyncio.run(load(args.url, args.requests, args.concurrency))))


if __name__ == "__main__":
    main()

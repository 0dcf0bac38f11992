"""Large payloads (over the inline limit) kept as files in the state directory."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from .. import exception
from .store import private_directory


class BlobStore:
    def __init__(self, root: Path) -> None:
        self._root = private_directory(root)

    def put(self, data: bytes) -> str:
        blob_id = "bl-" + uuid.uuid4().hex
        tmp = self._root / (blob_id + ".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600),
                  "wb") as f:
            f.write(data)
        os.replace(tmp, self._root / blob_id)
        return blob_id

    def get(self, blob_id: str) -> bytes:
        if not blob_id.startswith("bl-") or "/" in blob_id:
            raise exception.InvalidError(f"{blob_id!r} is not a blob id")
        try:
            return (self._root / blob_id).read_bytes()
        except FileNotFoundError:
            raise exception.NotFoundError(
                f"blob {blob_id} does not exist (it may have expired)"
            ) from None

    def expire(self, older_than_s: float) -> None:
        cutoff = time.time() - older_than_s
        for path in self._root.iterdir():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)

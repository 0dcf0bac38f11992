"""Large payloads (over the inline limit) kept as files in the state directory.

Each environment keeps its own: a blob is read only by callers of the environment it was put
in (``main``'s lie in the folder itself, as they did before there were environments; the
others' in ``environments/<name>/``).
"""

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

    def put(self, data: bytes, environment: str) -> str:
        blob_id = "bl-" + uuid.uuid4().hex
        folder = self._folder(environment)
        tmp = folder / (blob_id + ".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600),
                  "wb") as f:
            f.write(data)
        os.replace(tmp, folder / blob_id)
        return blob_id

    def get(self, blob_id: str, environment: str | None = None) -> bytes:
        """The blob's bytes; with ``environment``, only if it is that environment's."""
        if environment is None:
            environment = self.environment_of(blob_id)
        self._check(blob_id)
        try:
            return (self._folder(environment) / blob_id).read_bytes()
        except FileNotFoundError:
            raise self._missing(blob_id) from None

    def environment_of(self, blob_id: str) -> str:
        self._check(blob_id)
        if (self._root / blob_id).exists():
            return "main"
        for folder in self._environments():
            if (folder / blob_id).exists():
                return folder.name
        raise self._missing(blob_id)

    def rename_environment(self, name: str, new_name: str) -> None:
        folder = self._root / "environments" / name
        if folder.is_dir():
            os.rename(folder, self._root / "environments" / new_name)

    def expire(self, older_than_s: float) -> None:
        cutoff = time.time() - older_than_s
        for folder in (self._root, *self._environments()):
            for path in folder.iterdir():
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)

    def _folder(self, environment: str) -> Path:
        if environment == "main":
            return self._root
        return private_directory(self._root / "environments" / environment)

    def _environments(self) -> list[Path]:
        folder = self._root / "environments"
        return list(folder.iterdir()) if folder.is_dir() else []

    @staticmethod
    def _check(blob_id: str) -> None:
        if not blob_id.startswith("bl-") or "/" in blob_id or blob_id.endswith(".tmp"):
            raise exception.InvalidError(f"{blob_id!r} is not a blob id")

    @staticmethod
    def _missing(blob_id: str) -> exception.NotFoundError:
        return exception.NotFoundError(f"blob {blob_id} does not exist (it may have expired)")

"""Cloud buckets mounted for a container: s3fs (FUSE) on the host, bound into the container.

For each of a container's bucket mounts (`ketch.CloudBucketMount`), the worker runs ``s3fs
-f`` on a folder of its own under ``KETCH_HOME/buckets/<container>/``, with the bucket's
credentials in s3fs's environment and nowhere else, waits until the mount answers, and gives
the container a bind of it (read-only for ``read_only`` mounts). The container's mount
namespace, made after, sees the mount; its code sees neither s3fs's process nor its
environment (another pid namespace). The mounts end with the container: s3fs is stopped
(SIGTERM unmounts) and killed if it lingers.

s3fs because Debian packages it (``apt-get install s3fs``), it speaks the S3 API of AWS, R2,
GCS's interoperability and MinIO alike, and takes what a mount asks for: a key prefix
(``bucket:/prefix``), path-style requests, requester pays, session tokens, anonymous reads.
(Modal mounts with AWS's mountpoint-s3, which Debian does not package.) Requests are signed
with SigV4 only: every one of those services takes it, and s3fs's fallback to SigV2 turns a
refused key into minutes of retries.

Example::

    mounts = await BucketMounts.mount_all(spec.buckets, home / "buckets" / cid, owner=None)
    spec = replace(spec, binds=[*spec.binds, *mounts.binds])
    ...
    await mounts.release()
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from .. import exception

S3FS = "s3fs"
MOUNT_TIMEOUT_S = 30.0
STOP_S = 5.0
DEFAULT_URLS = {"gcs": "https://storage.googleapis.com", "r2": None, "s3": "https://s3.amazonaws.com"}


def unavailable() -> str | None:
    """Why buckets cannot be mounted on this machine, or None."""
    if shutil.which(S3FS) is None:
        return "cloud bucket mounts need s3fs (FUSE); install it with `apt-get install s3fs`"
    if not os.path.exists("/dev/fuse"):
        return "cloud bucket mounts need FUSE, and this machine has no /dev/fuse"
    if os.geteuid() != 0:
        return "cloud bucket mounts need root (s3fs mounts for other users); run ketch as root"
    return None


def s3fs_command(bucket: dict[str, Any], point: Path, tmpdir: Path,
                 credentials: dict[str, str], owner: tuple[int, int] | None) -> list[str]:
    """The s3fs command line that mounts ``bucket`` (a mount's wire form) at ``point``."""
    source = bucket["bucket"]
    if bucket.get("key_prefix"):
        source += ":/" + bucket["key_prefix"].rstrip("/")
    url = bucket.get("endpoint_url") or DEFAULT_URLS[bucket.get("type", "s3")]
    options = [f"url={url}", "sigv4", "allow_other", "nosuid", "nodev", f"tmpdir={tmpdir}",
               "dbglevel=err", "connect_timeout=10", "retries=3"]
    region = credentials.get("AWS_REGION") or credentials.get("AWS_DEFAULT_REGION")
    if region or bucket.get("type") in ("gcs", "r2"):
        options.append(f"endpoint={region or 'auto'}")
    if bucket.get("force_path_style"):
        options.append("use_path_request_style")
    if bucket.get("read_only"):
        options.append("ro")
    if bucket.get("requester_pays"):
        options.append("requester_pays")
    if not credentials.get("AWS_ACCESS_KEY_ID"):
        options.append("public_bucket=1")
    elif credentials.get("AWS_SESSION_TOKEN"):
        options.append("use_session_token")
    if owner is not None:
        options += [f"uid={owner[0]}", f"gid={owner[1]}", "umask=0022", "mp_umask=0022"]
    return [shutil.which(S3FS) or S3FS, source, str(point), "-f",
            *(part for option in options for part in ("-o", option))]


class MountedBucket:
    def __init__(self, process: asyncio.subprocess.Process, point: Path) -> None:
        self.process = process
        self.point = point
        self.drainer: asyncio.Future[None] | None = None

    async def stop(self) -> None:
        """Unmount: SIGTERM makes s3fs unmount and exit; SIGKILL and a lazy unmount if not."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_S)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if os.path.ismount(self.point):
            await _run("umount", "-l", str(self.point))


async def mount(bucket: dict[str, Any], point: Path, tmpdir: Path,
                credentials: dict[str, str], owner: tuple[int, int] | None) -> MountedBucket:
    """Mount ``bucket`` at ``point`` and return once it answers; `InvalidError` with s3fs's
    reason (the service's error code and message) if it does not."""
    point.mkdir(parents=True, exist_ok=True)
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **credentials}
    process = await asyncio.create_subprocess_exec(
        *s3fs_command(bucket, point, tmpdir, credentials, owner), env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)  # s3fs logs on stdout
    mounted = MountedBucket(process, point)
    try:
        await asyncio.wait_for(_answering(process, point), MOUNT_TIMEOUT_S)
    except TimeoutError:
        await mounted.stop()
        raise exception.InvalidError(
            f"{_name(bucket)} did not mount within {MOUNT_TIMEOUT_S:g} s: is "
            f"{bucket.get('endpoint_url') or 'AWS S3'} reachable from this machine?") from None
    if process.returncode is not None or not os.path.ismount(point):
        await mounted.stop()
        assert process.stdout is not None
        reason = _reason((await process.stdout.read()).decode(errors="replace"))
        raise exception.InvalidError(f"{_name(bucket)} could not be mounted: {reason}")
    mounted.drainer = _drain(process)
    return mounted


async def _answering(process: asyncio.subprocess.Process, point: Path) -> None:
    """Until the mount is up and has answered a request (s3fs checks the bucket and the
    credentials before its first answer, and exits if they fail), or s3fs has exited."""
    while process.returncode is None and not os.path.ismount(point):
        await asyncio.sleep(0.01)
    if process.returncode is None:
        try:
            await asyncio.to_thread(os.statvfs, point)
        except OSError:
            pass  # s3fs gave up: its exit says why
        await asyncio.sleep(0)


async def probe(bucket: dict[str, Any], credentials: dict[str, str]) -> None:
    """Mount ``bucket`` once in a folder of its own and unmount it: `InvalidError` with the
    reason if it cannot be mounted (refused credentials, no such bucket, no endpoint)."""
    problem = unavailable()
    if problem is not None:
        raise exception.InvalidError(problem)
    folder = Path(tempfile.mkdtemp(prefix="ketch-bucket-probe-"))
    try:
        mounted = await mount(bucket, folder / "mount", folder / "tmp", credentials, None)
        await mounted.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class BucketMounts:
    """The bucket mounts of one container."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted: list[MountedBucket] = []
        self.binds: list[list[Any]] = []

    @classmethod
    async def mount_all(cls, buckets: list[dict[str, Any]], root: Path,
                        owner: tuple[int, int] | None) -> BucketMounts:
        """Mount each of ``buckets`` (with their ``credentials``) under ``root``; on a failure
        the ones already made are unmounted and the error raised."""
        mounts = cls(root)
        try:
            for index, bucket in enumerate(buckets):
                point = root / str(index)
                mounts.mounted.append(await mount(bucket, point, root / f"{index}.tmp",
                                                  bucket.get("credentials") or {}, owner))
                mounts.binds.append([str(point), bucket["path"], bool(bucket.get("read_only"))])
        except BaseException:
            await mounts.release()
            raise
        return mounts

    async def release(self) -> None:
        await asyncio.gather(*(m.stop() for m in self.mounted), return_exceptions=True)
        self.mounted.clear()
        await asyncio.to_thread(shutil.rmtree, self.root, True)


def _drain(process: asyncio.subprocess.Process) -> asyncio.Future[None]:
    """Read s3fs's log until it exits, so that a chatty s3fs never blocks on a full pipe."""
    async def drain() -> None:
        assert process.stdout is not None
        while await process.stdout.read(1 << 16):
            pass

    return asyncio.ensure_future(drain())


def _reason(log: str) -> str:
    """What s3fs said went wrong: the service's error code and message where it gave one,
    else its last critical line."""
    code = re.search(r"<Code>([^<]*)</Code>", log)
    message = re.search(r"<Message>([^<]*)</Message>", log)
    if code:
        return f"{code.group(1)}: {message.group(1) if message else ''}".strip()
    lines = [line for line in log.splitlines()
             if ("[CRT]" in line or "s3fs:" in line) and "LowSetLogLevel" not in line]
    found = lines[-1] if lines else (log.strip().splitlines() or ["s3fs exited"])[-1]
    return re.sub(r"^.*?\[CRT\] \S+ ", "", found).strip()


def _name(bucket: dict[str, Any]) -> str:
    return f"bucket {bucket['bucket']!r} (at {bucket['path']})"


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    await process.wait()

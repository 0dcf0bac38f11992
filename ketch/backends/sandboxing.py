"""What the host prepares for one sandbox, whichever runtime then runs it (``namespace`` or
``gvisor``): its writable layer on a disk of its own size, a root that shows the host's system
folders but none of its data, its cgroup, and its network.

A sandbox runs code nobody vouched for (an AI agent's, say). So beyond a container's isolation
it gets no credentials (no control-plane socket, token or ``KETCH_HOME``), a writable layer on a
tmpfs of ``disk_mib`` MiB (full means ENOSPC, not a full host disk), a pids limit, and either no
network but loopback or a network namespace of its own whose traffic the host filters
(`ketch.backends.netns`). Its code runs as `SANDBOX_USER`, never root: what of the host it
sees, it reads as any user would (no 0600 file of root's). The folders it is expected to
write in are that user's in its upper layer: its root folder, its home `SANDBOX_HOME`, its
working directory, its image's virtualenv (`writable_folders`) and every folder emptied of the
host's data (/home, /srv, /mnt...); /tmp and /dev/shm are everyone's. The rest of its view is
root's, as the host's and the image's files are.

Example::

    setup = await SandboxSetup.prepare(spec, scratch, pythons=[sys.executable])
    config = setup.launcher_config()   # the launcher's CONFIG (`nsinit.py`), less "sandbox"
    ...                                # run the sandbox
    await setup.release()              # network, cgroup, disk and scratch: gone
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..protocol.worker import ContainerSpec, SandboxPolicy
from ..worker.cgroups import Cgroup, Limits
from . import nsinit
from .rootfs import give, hide_host_data, root_overlays, visible_prefixes, whiteout

if TYPE_CHECKING:
    from .netns import SandboxNetwork

# nobody:nogroup, in every passwd and group file (so `whoami`, `ls -l` and Python's pwd
# module name it) and the owner of no file on a host. Sandboxes sharing it see nothing of
# each other's (their own pid, mount, ipc and network namespaces).
SANDBOX_USER = (65534, 65534)
SANDBOX_HOME = "/root"  # HOME, as on Modal

# Never handed to a sandbox: what would let it act as the worker or the control plane.
HOST_ONLY_ENV = frozenset({
    "KETCH_CONTAINER_TOKEN", "KETCH_SERVER", "KETCH_HOME", "KETCH_TOKEN_ID", "KETCH_TOKEN_SECRET",
    "KETCH_BOARD", "KETCH_HOST_ROOT_FD", "KETCH_ZYGOTE_FD",
})


class SandboxSetup:
    """One sandbox's host-side resources; `release` frees them all, once."""

    def __init__(self, spec: ContainerSpec, scratch: Path, cgroup: Cgroup) -> None:
        self.spec = spec
        self.scratch = scratch
        self.cgroup = cgroup
        self.network: SandboxNetwork | None = None
        self.binds: list[list[Any]] = []  # read-only, to keep its interpreters runnable
        self.masks: list[str] = []
        self.hidden: list[str] = []  # host paths its upper layer hides (`hide_host_data`)
        self.disk_mounted = False
        self._released = False

    @property
    def policy(self) -> SandboxPolicy:
        assert self.spec.sandbox is not None
        return self.spec.sandbox

    @property
    def disk(self) -> Path:
        """The sandbox's tmpfs: its upper layer, overlay work dir, /dev/shm and mount points."""
        return self.scratch / "disk"

    @classmethod
    async def prepare(cls, spec: ContainerSpec, scratch: Path, pythons: list[str],
                      masks: Sequence[str] = ()) -> SandboxSetup:
        """Everything but the sandbox's processes. ``pythons``: interpreters that must stay
        runnable inside; ``masks``: host folders to hide besides (``KETCH_HOME`` and the
        scratch folders always are)."""
        if spec.sandbox is None:
            raise ValueError(f"{spec.container_id} is not a sandbox (its spec has no policy)")
        layers = list((spec.image or {}).get("layers", []))
        scratch.mkdir(parents=True)
        try:
            cgroup = Cgroup.create(spec.container_id, sandbox_limits(spec))
        except BaseException:
            shutil.rmtree(scratch, True)
            raise
        setup = cls(spec, scratch, cgroup)
        try:
            rooted = bool((spec.image or {}).get("rooted"))
            await setup._mount_disk(layers, rooted)
            setup.binds = [] if rooted else visible_prefixes(pythons, layers)
            setup.masks = list(dict.fromkeys([*masks, str(config.home()), str(scratch.parent)]))
            if not spec.sandbox.block_network:
                from .netns import SandboxNetwork

                setup.network = await SandboxNetwork.create(
                    spec.container_id, spec.sandbox.cidr_allowlist)
        except BaseException:
            await setup.release()
            raise
        return setup

    async def _mount_disk(self, layers: list[str], rooted: bool) -> None:
        """The tmpfs of ``disk_mib`` MiB, in the host's mount namespace, with the upper layer
        that hides the host's data (tmpfs keeps the trusted.* attributes overlayfs needs); a
        ``rooted`` image has none of the host's to hide."""
        disk = self.disk
        disk.mkdir()
        mib = max(1, self.policy.disk_mib)  # size=0 would be no limit at all
        nsinit.mount("tmpfs", str(disk), "tmpfs", nsinit.MS_NOSUID | nsinit.MS_NODEV,
                     f"size={mib}m,nr_inodes={mib * 256},mode=755")
        self.disk_mounted = True
        for part in ("upper", "work", "root", "shm"):
            (disk / part).mkdir()
        os.chmod(disk / "shm", 0o1777)
        deleted = (self.spec.image or {}).get("whiteouts", [])
        whiteout(disk / "upper", deleted)
        if not rooted:
            self.hidden = await asyncio.to_thread(hide_host_data, disk / "upper", layers, deleted)
        emptied = [path for path in self.hidden if (disk / "upper" / path.lstrip("/")).is_dir()]
        give(disk / "upper", [*writable_folders(self.spec, layers), *emptied], layers,
             *SANDBOX_USER)

    def launcher_config(self) -> dict[str, Any]:
        """The launcher's CONFIG for this sandbox (see `nsinit.py`), less ``"sandbox": True``
        and its devices, which the driver adds."""
        spec, disk = self.spec, self.disk
        image = spec.image or {}
        network: dict[str, Any] = (
            {"net": True} if self.network is None else {"net": False, "netns": self.network.path}
        )
        return {
            **network,
            "hostname": spec.container_id,
            "root": str(disk / "root"),
            "overlays": root_overlays(image.get("layers", []), disk,
                                      bool(image.get("rooted"))) + [
                [[v["lower"]], v["upper"], v["work"], str(disk / "root") + v["mount"]]
                for v in spec.volumes
            ],
            "masks": list(self.masks),
            # /dev/shm on the sandbox's disk: one quota for everything it writes
            "binds": [*self.binds, [str(disk / "shm"), "/dev/shm", False],
                      *image.get("binds", []), *(b for v in spec.volumes for b in v["binds"]),
                      *spec.binds],  # its bucket mounts, made by the worker
            "devices": [],
            "workdir": workdir_of(spec),
            "cgroup_procs": self.cgroup.procs_files,
            "user": list(SANDBOX_USER),
        }

    def adopt(self, spec: ContainerSpec, limits: Limits) -> None:
        """Become ``spec``'s sandbox: one started ahead as a spare (`ketch.worker.spares`),
        whose shape (runtime, network, image, working directory) matches, takes on its
        limits."""
        self.spec = spec
        self.cgroup.limit(limits)

    async def release(self) -> None:
        """Remove the network, the cgroup (killing what is left in it), the disk and the
        scratch folder. Safe to call again, and after a `prepare` that failed half way."""
        if self._released:
            return
        self._released = True
        try:
            if self.network is not None:
                await self.network.remove()
        finally:
            self.cgroup.remove()
            if self.disk_mounted:  # detached: the sandbox's own mounts may still hold it
                nsinit.libc.umount2(str(self.disk).encode(), nsinit.MNT_DETACH)
            await asyncio.to_thread(shutil.rmtree, self.scratch, True)

    def pids_exhausted(self) -> bool:
        """Whether a fork or clone failed because the sandbox was at its pids limit."""
        folder = self.cgroup.dirs.get("pids") or self.cgroup.dirs.get("unified")
        try:
            events = (folder / "pids.events").read_text() if folder else ""
        except OSError:
            return False
        counts = dict(line.split() for line in events.splitlines() if len(line.split()) == 2)
        return int(counts.get("max", "0")) > 0


def workdir_of(spec: ContainerSpec) -> str:
    return spec.workdir or (spec.image or {}).get("workdir") or "/"


def writable_folders(spec: ContainerSpec, layers: Sequence[str]) -> list[str]:
    """The folders `SANDBOX_USER` owns in a sandbox: its root, home and working directory,
    and, for an image's virtualenv (in a layer), the folders ``pip install`` writes in."""
    folders = ["/", SANDBOX_HOME, workdir_of(spec)]
    python = (spec.image or {}).get("python")
    venv = os.path.dirname(os.path.dirname(python)) if python else None
    inside = [os.path.join(layer, (venv or "").lstrip("/")) for layer in layers]
    if venv and any(os.path.isfile(os.path.join(v, "pyvenv.cfg")) for v in inside):
        folders += [venv, f"{venv}/bin"]
        folders += sorted({f"{venv}/lib/{name}/site-packages" for v in inside
                           if os.path.isdir(f"{v}/lib") for name in os.listdir(f"{v}/lib")
                           if os.path.isdir(f"{v}/lib/{name}/site-packages")})
    return folders


def sandbox_limits(spec: ContainerSpec) -> Limits:
    from .namespace import limits_of

    assert spec.sandbox is not None
    base = limits_of(spec)
    return Limits(cpu_request=base.cpu_request, cpu_limit=base.cpu_limit,
                  memory_mib=base.memory_mib, pids=spec.sandbox.pids)


def sandbox_env(env: dict[str, str]) -> dict[str, str]:
    """A sandbox's environment: ``env`` less whatever would let it reach the control plane."""
    return {k: v for k, v in env.items() if k not in HOST_ONLY_ENV}


def describe_pids_limit(spec: ContainerSpec) -> str:
    assert spec.sandbox is not None
    return (f"the sandbox reached its limit of {spec.sandbox.pids} processes (threads count "
            "too); no more could start")

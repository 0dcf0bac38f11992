"""`Image`: the software a function's containers run on, as a chain of cached build steps.

Example::

    image = (
        ketch.Image.debian_slim(python_version="3.11")
        .apt_install("curl")
        .uv_pip_install("numpy==2.1.3")
        .env({"MODE": "fast"})
        .add_local_dir("./data", remote_path="/data")
    )

    @app.function(image=image)
    def f(): ...

Each method returns a new image with one more step. The worker builds each step once, as a
layer keyed by the hash of its parent and the step, and shares it between apps. The base is
this machine's OS with the requested Python in a virtualenv at ``/opt/ketch/venv``.
``add_local_*`` steps are mounted when a container starts (``copy=True`` makes them layers).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import exception
from .context import is_local
from .file_pattern_matcher import NON_PYTHON_FILES, Ignore, patterns_of
from .secret import Secret, ids_for_run
from .serialization import serialize

if TYPE_CHECKING:
    from .client import Client

Step = dict[str, Any]


def _strings(name: str, values: Sequence[Any]) -> list[str]:
    flat: list[str] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            flat.extend(_strings(name, value))
        elif isinstance(value, str):
            flat.append(value)
        else:
            raise exception.InvalidError(f"{name} takes strings, not {value!r}")
    return flat


class Image:
    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    def _extend(self, kind: str, force_build: bool = False, **fields: Any) -> Image:
        if any(s["kind"].startswith("mount_") for s in self.steps) and not kind.startswith("mount_"):
            raise exception.InvalidError(
                f"{kind} comes after an add_local_* step that is mounted at start; put mounted "
                "files last, or pass copy=True to those add_local_* calls"
            )
        return Image([*self.steps, {"kind": kind, "force_build": force_build, **fields}])

    def to_wire(self) -> list[Step]:
        return [dict(step) for step in self.steps]

    # -- bases ---------------------------------------------------------------------------------

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """Debian with Python ``python_version`` (default: the running one) in a venv: this
        machine's OS and Python where it has that version, else the registry's
        ``python:X-slim`` image (as Modal's own debian_slim)."""
        version = _python_version(python_version or
                                  f"{sys.version_info.major}.{sys.version_info.minor}")
        return Image([{"kind": "base", "python": version, "force_build": force_build}])

    @staticmethod
    def from_registry(tag: str, *, secret: Secret | None = None,
                      setup_dockerfile_commands: Sequence[str] = (), force_build: bool = False,
                      add_python: str | None = None, **_ignored: Any) -> Image:
        """An image pulled from a registry (Docker Hub unless the tag names another), with
        ``add_python`` a standalone CPython put into it; ``secret`` holds REGISTRY_USERNAME
        and REGISTRY_PASSWORD for a private one.

        Example::

            image = ketch.Image.from_registry("nvidia/cuda:12.4.1-runtime-ubuntu22.04",
                                              add_python="3.12")
        """
        return Image._registry(tag, secret, "basic", list(setup_dockerfile_commands),
                               force_build, add_python)

    @staticmethod
    def from_aws_ecr(tag: str, secret: Secret | None = None, *,
                     setup_dockerfile_commands: Sequence[str] = (), force_build: bool = False,
                     add_python: str | None = None, **_ignored: Any) -> Image:
        """An image from AWS ECR; ``secret`` holds AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
        and AWS_REGION (the worker asks ECR for a pull token with them, through boto3)."""
        return Image._registry(tag, secret, "aws", list(setup_dockerfile_commands),
                               force_build, add_python)

    @staticmethod
    def from_gcp_artifact_registry(tag: str, secret: Secret | None = None, *,
                                   setup_dockerfile_commands: Sequence[str] = (),
                                   force_build: bool = False, add_python: str | None = None,
                                   **_ignored: Any) -> Image:
        """An image from Google Artifact Registry; ``secret`` holds SERVICE_ACCOUNT_JSON."""
        return Image._registry(tag, secret, "gcp", list(setup_dockerfile_commands),
                               force_build, add_python)

    @staticmethod
    def _registry(tag: str, secret: Secret | None, auth: str, setup: list[str],
                  force_build: bool, add_python: str | None) -> Image:
        from .image_reference import Reference

        Reference.parse(tag)  # a malformed one is refused here, not by a worker
        if secret is not None and not isinstance(secret, Secret):
            raise exception.InvalidError(
                f"secret= takes a ketch.Secret (such as ketch.Secret.from_name('registry')), "
                f"not a {type(secret).__name__}")
        base: Step = {"kind": "registry", "ref": tag, "secret": secret, "auth": auth,
                      "force_build": force_build}
        image = Image([base])
        if setup:
            image = image.dockerfile_commands(*setup)
        return image._with_python(add_python)

    @staticmethod
    def from_dockerfile(path: str, *, context_dir: str | None = None,
                        build_args: dict[str, str] | None = None, secret: Secret | None = None,
                        force_build: bool = False, add_python: str | None = None,
                        **_ignored: Any) -> Image:
        """An image built from a Dockerfile: its FROM pulled, its RUN, COPY, ENV, WORKDIR...
        as ketch's own steps (one stage; what ketch cannot do is refused here, by line)."""
        from .dockerfile import steps_from_dockerfile

        steps = steps_from_dockerfile(path, context_dir, dict(build_args or {}))
        steps[0] = {**steps[0], "secret": secret, "auth": "basic", "force_build": force_build}
        return Image(steps)._with_python(add_python)

    def dockerfile_commands(self, *dockerfile_commands: str | list[str],
                            context_dir: str | None = None, force_build: bool = False,
                            **_ignored: Any) -> Image:
        """Dockerfile instructions (RUN, ENV, COPY ...) as further steps of this image."""
        from .dockerfile import steps_from_commands

        lines = _strings("dockerfile_commands", dockerfile_commands)
        workdir = next((s["path"] for s in reversed(self.steps) if s["kind"] == "workdir"), "/")
        image = self
        for step in steps_from_commands(lines, context_dir, workdir=workdir):
            image = image._extend(step.pop("kind"), force_build or step.pop("force_build", False),
                                  **step)
        return image

    @staticmethod
    def micromamba(*_args: Any, **_kwargs: Any) -> Image:
        raise exception.UnimplementedError(
            "Image.micromamba is not supported: use "
            "ketch.Image.from_registry('mambaorg/micromamba:latest') and .run_commands("
            "'micromamba install -y -n base ...'), or debian_slim() with .uv_pip_install()")

    def _with_python(self, add_python: str | None) -> Image:
        """ketch's virtualenv on the image's Python, after putting a standalone one in with
        ``add_python``."""
        steps = list(self.steps)
        if add_python is not None:
            steps.append({"kind": "python", "version": check_add_python(add_python),
                          "force_build": False})
        steps.append({"kind": "venv", "force_build": False})
        return Image(steps)

    # -- Python packages -------------------------------------------------------------------------

    def uv_pip_install(
        self, *packages: str | list[str], requirements: list[str] | None = None,
        find_links: str | None = None, index_url: str | None = None,
        extra_index_url: str | None = None, pre: bool = False, extra_options: str = "",
        force_build: bool = False, **_ignored: Any,
    ) -> Image:
        """Install Python packages (and requirements files) into the image with uv."""
        names = _strings("uv_pip_install", packages)
        files = [_read(path) for path in requirements or []]
        if not names and not files:
            return self
        return self._extend("pip", force_build, packages=names, requirements=files,
                            find_links=find_links, index_url=index_url,
                            extra_index_url=extra_index_url, pre=pre, extra_options=extra_options)

    def pip_install(self, *packages: str | list[str], **kwargs: Any) -> Image:
        """Install Python packages (ketch installs them with uv)."""
        return self.uv_pip_install(*packages, **kwargs)

    def pip_install_from_requirements(self, requirements_txt: str, **kwargs: Any) -> Image:
        return self.uv_pip_install(requirements=[requirements_txt], **kwargs)

    def pip_install_from_pyproject(
        self, pyproject_toml: str, optional_dependencies: list[str] | None = None, **kwargs: Any
    ) -> Image:
        import tomllib

        with open(os.path.expanduser(pyproject_toml), "rb") as f:
            project = tomllib.load(f).get("project", {})
        packages = list(project.get("dependencies", []))
        for extra in optional_dependencies or []:
            packages.extend(project.get("optional-dependencies", {}).get(extra, []))
        return self.uv_pip_install(*packages, **kwargs)

    # -- system --------------------------------------------------------------------------------

    def apt_install(self, *packages: str | list[str], force_build: bool = False,
                    **_ignored: Any) -> Image:
        """Install Debian packages, as root, into the image."""
        names = _strings("apt_install", packages)
        return self._extend("apt", force_build, packages=names) if names else self

    def run_commands(self, *commands: str | list[str], force_build: bool = False,
                     **_ignored: Any) -> Image:
        """Run shell commands as root; what they write becomes a layer."""
        lines = _strings("run_commands", commands)
        return self._extend("run", force_build, commands=lines) if lines else self

    def env(self, vars: dict[str, str]) -> Image:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in vars.items()):
            raise exception.InvalidError("Image.env takes a dict of str to str")
        return self._extend("env", vars=dict(vars))

    def workdir(self, path: str) -> Image:
        return self._extend("workdir", path=str(path))

    def run_function(self, raw_f: Callable[..., Any], *, args: Sequence[Any] = (),
                     kwargs: dict[str, Any] | None = None, force_build: bool = False,
                     **_ignored: Any) -> Image:
        """Run a Python function in the image while building it; its writes become a layer."""
        payload = serialize((raw_f, tuple(args), dict(kwargs or {})), "run_function")
        return self._extend("function", force_build, payload=payload,
                            name=getattr(raw_f, "__qualname__", "function"))

    # -- local files ---------------------------------------------------------------------------

    # In a container the user's module is imported again, and with it these steps: the image
    # was built from the caller's files, which need not be there (a deployed version's module
    # is a copy of its own, away from its neighbours), so they are not looked for, as in Modal.

    def add_local_file(self, local_path: str, remote_path: str, *, copy: bool = False) -> Image:
        local = os.path.abspath(os.path.expanduser(local_path))
        if is_local() and not os.path.isfile(local):
            raise exception.InvalidError(f"add_local_file: {local_path} is not a file")
        if remote_path.endswith("/"):
            remote_path += os.path.basename(local)
        return self._local("file", local, remote_path, copy, [])

    def add_local_dir(self, local_path: str, remote_path: str, *, copy: bool = False,
                      ignore: Ignore = ()) -> Image:
        """The folder ``local_path`` at ``remote_path``, less what ``ignore`` (.dockerignore
        patterns, a `FilePatternMatcher`, or a function of the relative path) leaves out."""
        local = os.path.abspath(os.path.expanduser(local_path))
        if not is_local():
            return self._local("dir", local, remote_path, copy, [])
        if not os.path.isdir(local):
            raise exception.InvalidError(f"add_local_dir: {local_path} is not a directory")
        try:
            patterns = patterns_of(ignore, local)
        except (TypeError, ValueError, OSError) as exc:
            raise exception.InvalidError(f"add_local_dir({local_path!r}): ignore= {exc}") from exc
        return self._local("dir", local, remote_path, copy, patterns)

    def add_local_python_source(self, *modules: str, copy: bool = False,
                                ignore: Ignore = NON_PYTHON_FILES) -> Image:
        """Add local Python packages or modules, importable in the container from /root (by
        default a package's .py files alone, as in Modal)."""
        import importlib.util

        image = self
        for name in modules:
            spec = importlib.util.find_spec(name)
            if (spec is None or spec.origin is None) and not is_local():
                continue
            if spec is None or spec.origin is None:
                raise exception.InvalidError(f"add_local_python_source: no module named {name!r}")
            if spec.submodule_search_locations:
                image = image.add_local_dir(list(spec.submodule_search_locations)[0],
                                            f"/root/{name}", copy=copy, ignore=ignore)
            else:
                image = image.add_local_file(spec.origin, f"/root/{name}.py", copy=copy)
        return image

    def _local(self, what: str, local: str, remote: str, copy: bool, ignore: list[str]) -> Image:
        if not os.path.isabs(remote):
            raise exception.InvalidError(f"remote_path must be absolute, not {remote!r}")
        kind = f"copy_{what}" if copy else f"mount_{what}"
        return self._extend(kind, local=local, remote=remote, ignore=ignore)

    # -- in the container ------------------------------------------------------------------------

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """Imports inside may fail locally (the package is only in the image)."""
        try:
            yield
        except ImportError:
            if not is_local():
                raise

    def __repr__(self) -> str:
        return f"Image({' → '.join(step['kind'] for step in self.steps)})"


def _python_version(version: Any) -> str:
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts) or parts[0] != "3":
        raise exception.InvalidError(f"a Python version looks like '3.12' (or '3.12.7'), not "
                                     f"{version!r}")
    return version


def check_add_python(version: Any) -> str:
    """``add_python``'s version: "3.N" or "3.N.M" with N >= 9 (what standalone builds exist
    for), refused when the image is declared."""
    match = re.fullmatch(r"3\.(\d+)(?:\.(\d+))?", version) if isinstance(version, str) else None
    if match is None or int(match[1]) < 9:
        raise exception.InvalidError(
            f"add_python={version!r} is not a Python version ketch can add: pass \"3.N\" or "
            f"\"3.N.M\" with N >= 9, for example add_python=\"3.12\" or add_python=\"3.12.7\""
        )
    return version


async def resolve_secrets(steps: list[Step] | None, client: Client, environment: str
                          ) -> list[Step] | None:
    """The steps to send: each registry secret replaced by its id (a named one of
    ``environment`` looked up, one of local values made there for the run)."""
    if not steps:
        return steps
    found = {str(i): [s["secret"]] for i, s in enumerate(steps) if isinstance(s.get("secret"), Secret)}
    if not found:
        return steps
    ids = await ids_for_run(client, found, environment)
    return [{**s, "secret": ids[str(i)][0]} if str(i) in ids else s for i, s in enumerate(steps)]


def _read(path: str) -> str:
    try:
        with open(os.path.expanduser(path)) as f:
            return f.read()
    except OSError as exc:
        raise exception.InvalidError(f"cannot read requirements file {path}: {exc}") from exc

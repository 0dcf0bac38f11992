"""A real OCI registry on 127.0.0.1 and real images for tests of image pulls.

The registry is Debian's ``docker-registry`` (the CNCF distribution registry) serving plain HTTP
from a folder; images are written here by hand as OCI image layouts and pushed with ``skopeo``,
so a test knows every byte and digest of what it pulls and nothing leaves this machine.

    reg = start_registry(tmp_path, auth="basic")
    digest = push_image(reg, "app", "v1", [base_rootfs(), layer({"app/main.py": "print(1)"})],
                        config={"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["python3"]})
    ...
    reg.stop()

Three kinds of registry: open (anyone pulls and pushes), ``auth="basic"`` (htpasswd, bcrypt)
and ``auth="token"``: the registry's bearer token auth, with a token server in this process
that checks basic credentials and signs JWTs the registry verifies against its certificate.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
# What the token server names itself and the registry in its JWTs (iss and aud).
TOKEN_ISSUER = "ketch-test-token-server"
TOKEN_SERVICE = "ketch-test-registry"

Layer = bytes | Path  # an uncompressed tar: in memory, or a file such as base_rootfs()


def missing_binaries(*names: str) -> list[str]:
    """Those of ``names`` not on PATH (for a test's skip reason)."""
    return [name for name in names if shutil.which(name) is None]


# --- the registry -----------------------------------------------------------------------------


@dataclass
class TokenRequest:
    """One request the token server answered, for tests that check how a client logged in."""

    username: str | None  # None: anonymous
    scopes: list[str]
    status: int  # 200 or 401
    access: list[dict[str, Any]]  # what the token granted


@dataclass
class Registry:
    """A running registry: pull and push at ``host`` with ``username``/``password`` (None when
    the registry is open)."""

    host: str  # "127.0.0.1:PORT"
    username: str | None
    password: str | None
    auth: str | None = None  # None, "basic" or "token"
    root: Path = Path()
    token_requests: list[TokenRequest] = field(default_factory=list, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _token_server: _TokenServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log(self) -> Path:
        """The registry's log (its stdout and stderr), for debugging."""
        return self.root / "registry.log"

    @property
    def creds(self) -> str | None:
        """``user:password`` as skopeo's ``--creds`` takes it, None when open."""
        return None if self.username is None else f"{self.username}:{self.password}"

    def ref(self, name: str, tag_or_digest: str) -> str:
        """``host/name:tag`` or ``host/name@sha256:...``."""
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{name}{sep}{tag_or_digest}"

    def stop(self) -> None:
        """Stop the registry and its token server; safe to call twice."""
        if self._process is not None:
            _stop_process(self._process)
            self._process = None
        if self._token_server is not None:
            self._token_server.stop()
            self._token_server = None

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_registry(
    root: Path,
    auth: str | None = None,
    *,
    username: str = "ketch",
    password: str | None = None,
    anonymous_pull: bool = False,
    token_ttl: int = 300,
) -> Registry:
    """Run ``docker-registry serve`` on a free 127.0.0.1 port, storing under ``root``, plain HTTP.

    ``auth``: None (open), ``"basic"`` (htpasswd) or ``"token"`` (bearer tokens from a token
    server in this process). ``password`` is random when not given. With ``auth="token"``,
    ``anonymous_pull=True`` lets a client with no credentials have pull (never push) tokens;
    by default it is refused like wrong credentials, with 401. Returns once ``GET /v2/``
    answers. Its log is ``root/registry.log``.
    """
    if auth not in (None, "basic", "token"):
        raise ValueError(f"auth must be None, 'basic' or 'token', not {auth!r}")
    root.mkdir(parents=True, exist_ok=True)
    user = None if auth is None else username
    secret = None if auth is None else password or secrets.token_urlsafe(12)
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "storage")},
            "delete": {"enabled": True},
            # No background upload purging: the registry lives only as long as a test.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": "", "secret": secrets.token_hex(16)},
    }
    token_server = None
    if auth == "basic":
        assert user is not None and secret is not None
        htpasswd = subprocess.run(
            ["htpasswd", "-Bbn", user, secret], capture_output=True, check=True, text=True
        ).stdout
        (root / "htpasswd").write_text(htpasswd)
        config["auth"] = {"htpasswd": {"realm": "ketch-test", "path": str(root / "htpasswd")}}
    elif auth == "token":
        assert user is not None and secret is not None
        token_server = _TokenServer(
            user, secret, anonymous_pull, token_ttl, root / "token-server.log"
        )
        (root / "token-ca.pem").write_bytes(token_server.cert_pem)
        config["auth"] = {
            "token": {
                "realm": f"{token_server.url}/token",
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(root / "token-ca.pem"),
            }
        }
    registry = Registry(host="", username=user, password=secret, auth=auth, root=root)
    registry._token_server = token_server
    if token_server is not None:
        registry.token_requests = token_server.requests
    try:
        # The port is found free and then given to the registry: another process may take it
        # in between, so a start that lost that race is tried again on another port.
        for _ in range(5):
            port = _free_port()
            config["http"]["addr"] = f"127.0.0.1:{port}"
            # JSON is YAML, and needs no quoting rules of its own.
            (root / "config.yml").write_text(json.dumps(config, indent=2))
            registry.host = f"127.0.0.1:{port}"
            registry._process = _spawn_registry(root)
            if _wait_ready(registry):
                return registry
            _stop_process(registry._process)
            registry._process = None
            if "address already in use" not in registry.log.read_text(errors="replace"):
                break
        tail = registry.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"docker-registry did not start; its log ends:\n{tail}")
    except BaseException:
        registry.stop()
        raise


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn_registry(root: Path) -> subprocess.Popen[bytes]:
    # REGISTRY_* variables override the config file; none from the caller's shell may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(root / "registry.log", "ab") as log:
        return subprocess.Popen(
            ["docker-registry", "serve", str(root / "config.yml")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C in the terminal is pytest's, not the registry's
        )


def _wait_ready(registry: Registry, timeout: float = 20.0) -> bool:
    """Whether the registry answers ``GET /v2/`` (200, or 401 when it wants credentials)."""
    assert registry._process is not None
    host, port = registry.host.split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry._process.poll() is not None:
            return False
        conn = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("GET", "/v2/")
            with conn.getresponse() as response:
                response.read()
                if response.status in (200, 401):
                    return True
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    return False


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the token server -------------------------------------------------------------------------


class _TokenServer:
    """The registry's token service: ``GET /token?service=...&scope=...`` with HTTP basic
    credentials (or none), and ``POST /token`` with an OAuth2 password grant, answer
    ``{"token", "access_token", "expires_in", "issued_at"}``: an ES256 JWT whose ``x5c`` header
    carries the self-signed certificate the registry is given as its ``rootcertbundle``.

    A right user gets every action asked for on any repository (and the catalog); wrong
    credentials get 401; no credentials get pull only if ``anonymous_pull``, else 401.
    """

    def __init__(
        self, username: str, password: str, anonymous_pull: bool, ttl: int, log: Path
    ) -> None:
        self.username, self.password = username, password
        self.anonymous_pull, self.ttl = anonymous_pull, ttl
        self.requests: list[TokenRequest] = []
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self._log: IO[str] = open(log, "a")  # closed in stop()
        self._lock = threading.Lock()
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._thread.join()
        self._http.server_close()
        self._log.close()

    def log(self, line: str) -> None:
        with self._lock:
            self._log.write(line + "\n")
            self._log.flush()

    def answer(
        self, username: str | None, password: str | None, scopes: list[str]
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for a token request."""
        if username is None:
            allowed = {"pull"} if self.anonymous_pull else None
        elif secrets.compare_digest(
            f"{username}:{password}".encode(), f"{self.username}:{self.password}".encode()
        ):
            allowed = {"pull", "push", "delete", "*"}
        else:
            allowed = None
        if allowed is None:
            self.requests.append(TokenRequest(username, scopes, 401, []))
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong credentials"}]}
        access = []
        for scope in scopes:
            # type:name:actions, where the name may itself hold ':' (never in practice).
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "registry" and username is None:
                continue  # the catalog is for users only
            granted = [a for a in actions.split(",") if a in allowed]
            if name and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        self.requests.append(TokenRequest(username, scopes, 200, access))
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": username or "",
            "aud": TOKEN_SERVICE,  # a string: registry 2.8 does not take a list here
            "exp": now + self.ttl,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = self.sign(claims)
        issued = datetime.datetime.fromtimestamp(now, datetime.UTC)
        return 200, {
            "token": token,
            "access_token": token,
            "expires_in": self.ttl,
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS (ES256) of ``claims``."""
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{_b64url(_json(header))}.{_b64url(_json(claims))}"
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        # JOSE wants the raw r || s, not the DER that cryptography gives.
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _token_handler(server: _TokenServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            query = parse_qs(url.query)
            if query.get("service", [TOKEN_SERVICE])[0] != TOKEN_SERVICE:
                return self.reply(400, {"errors": [{"code": "UNSUPPORTED_SERVICE"}]})
            username, password = self.basic_credentials()
            if username == "" and password is None:
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
            scopes = [s for value in query.get("scope", []) for s in value.split()]
            self.reply(*server.answer(username, password, scopes))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if urlsplit(self.path).path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            if form.get("grant_type", [""])[0] != "password":
                return self.reply(400, {"error": "unsupported_grant_type"})
            scopes = [s for value in form.get("scope", []) for s in value.split()]
            status, body = server.answer(
                form.get("username", [""])[0], form.get("password", [""])[0], scopes
            )
            body.pop("token", None)  # the OAuth2 answer names it access_token only
            self.reply(status, body)

        def basic_credentials(self) -> tuple[str | None, str | None]:
            """(None, None) without credentials, ("", None) for a malformed header."""
            header = self.headers.get("Authorization")
            if header is None:
                return None, None
            scheme, _, value = header.partition(" ")
            try:
                if scheme.lower() != "basic":
                    raise ValueError(scheme)
                username, sep, password = (
                    base64.b64decode(value, validate=True).decode().partition(":")
                )
            except ValueError:
                return "", None
            return (username, password) if sep else ("", None)

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = _json(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="ketch-test-token"')
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            server.log(f"{self.address_string()} {format % args}")

    return Handler


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# --- layers and root file systems -------------------------------------------------------------


def whiteout(path: str) -> str:
    """The layer entry name that deletes ``path`` from the layers below: ``a/b`` -> ``a/.wh.b``."""
    head, _, name = path.strip("/").rpartition("/")
    return f"{head}/.wh.{name}" if head else f".wh.{name}"


def opaque(directory: str) -> str:
    """The layer entry name that hides everything the layers below have in ``directory``."""
    return f"{directory.strip('/')}/.wh..wh..opq"


def layer(
    files: Mapping[str, bytes | str | None | tuple[Any, ...]],
    *,
    parents: bool = True,
    mtime: int = 0,
) -> bytes:
    """An uncompressed tar layer (PAX, owner root, fixed ``mtime``: the same spec gives the same
    bytes and digest). ``files`` maps a name in the tar to what it is:

        "a/f": b"..." or "..."          a regular file (str is UTF-8), mode 0644
        "a/d": None                     a directory, mode 0755
        "a/x": ("file", data, 0o755)    a file with a mode; ("file", data, mode, uid, gid)
        "a/d": ("dir", 0o700)           a directory with a mode; ("dir", mode, uid, gid)
        "a/l": ("symlink", "target")    a symbolic link (the target is written as given)
        "a/h": ("hardlink", "a/f")      a hard link to an entry earlier in this layer
        whiteout("a/b"): None           OCI whiteout "a/.wh.b": deletes a/b from layers below
        opaque("a"): None               "a/.wh..wh..opq": a/ keeps only what this layer has

    (A ``.wh.`` name is always an empty file; its value may be None or empty.) Names are
    written as given, so a test may write hostile ones ("../x", "/etc/x"). With ``parents``,
    a directory entry (0755) is added, just before the first entry below it, for each parent
    that the spec does not name itself (as real image layers have).
    """
    names = {name.rstrip("/") for name in files}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        emitted: set[str] = set()

        def add(info: tarfile.TarInfo, data: bytes | None = None) -> None:
            info.mtime = mtime
            info.uname = info.gname = ""
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
            emitted.add(info.name)

        for raw_name, value in files.items():
            name = raw_name.rstrip("/")
            if parents:
                parts = name.split("/")
                for i in range(1, len(parts)):
                    parent = "/".join(parts[:i])
                    if parts[i - 1] in ("", ".", "..") or parent in names or parent in emitted:
                        continue
                    info = tarfile.TarInfo(parent)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    add(info)
            info = tarfile.TarInfo(name)
            if name.rpartition("/")[2].startswith(".wh."):
                if value not in (None, "", b""):
                    raise ValueError(f"whiteout {name!r} must be empty, not {value!r}")
                info.mode = 0o644
                add(info, b"")
            elif value is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                add(info)
            elif isinstance(value, str | bytes):
                info.mode = 0o644
                add(info, value.encode() if isinstance(value, str) else value)
            elif isinstance(value, tuple) and value and value[0] == "file":
                data = value[1].encode() if isinstance(value[1], str) else value[1]
                info.mode = value[2] if len(value) > 2 else 0o644
                if len(value) > 3:
                    info.uid, info.gid = value[3], value[4]
                add(info, data)
            elif isinstance(value, tuple) and value and value[0] == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = value[1] if len(value) > 1 else 0o755
                if len(value) > 2:
                    info.uid, info.gid = value[2], value[3]
                add(info)
            elif isinstance(value, tuple) and len(value) == 2 and value[0] == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, value[1], 0o777
                add(info)
            elif isinstance(value, tuple) and len(value) == 2 and value[0] == "hardlink":
                info.type, info.linkname, info.mode = tarfile.LNKTYPE, value[1], 0o644
                add(info)
            else:
                raise ValueError(f"{raw_name!r}: not a layer entry: {value!r}")
    return out.getvalue()


def cache_dir() -> Path:
    """Where built root file systems are kept between test runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ketch-tests"


def base_rootfs(suite: str = "bookworm") -> Path:
    """A tar of a minimal Debian ``suite`` with python3 (bookworm: 3.11, trixie: 3.13), built once
    with mmdebstrap (about half a minute, needs deb.debian.org) and kept in :func:`cache_dir`.

    minbase without Recommends, merged /usr (so no usrmerge and the perl it pulls in), no
    manuals, docs or translations: about 120 MB for bookworm. Built under a temporary name and
    renamed, so a killed build leaves no half-made tar; a file lock makes two pytest
    processes build it once.
    """
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"rootfs-{suite}.tar"
    if target.exists():
        return target
    with open(cache / f"rootfs-{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # another process built it while this one waited
            return target
        # Holding the lock, any temporary tar left is from a build that was killed.
        for stale in cache.glob(f"rootfs-{suite}.tmp-*.tar"):
            stale.unlink()
        partial = cache / f"rootfs-{suite}.tmp-{os.getpid()}.tar"
        command = [
            "mmdebstrap",
            "--variant=minbase",
            "--include=python3",
            "--format=tar",
            '--aptopt=APT::Install-Recommends "false"',
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/info/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-include=/usr/share/locale/locale.alias",
        ]
        hooks = Path("/usr/share/mmdebstrap/hooks/merged-usr")
        if hooks.is_dir():
            command.append(f"--hook-dir={hooks}")
        command += [suite, str(partial)]
        try:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


# --- OCI image layouts and pushes -------------------------------------------------------------


def machine_arch() -> str:
    """This machine's architecture as OCI names it (amd64, arm64, ...)."""
    machine = platform.machine().lower()
    return {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm",
        "i686": "386",
        "i386": "386",
    }.get(machine, machine)


def other_arch() -> str:
    """An architecture this machine is not, for images a pull here must refuse."""
    return "arm64" if machine_arch() == "amd64" else "amd64"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout being written in ``directory``: blobs, then ``tag(...)``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.refs: list[dict[str, Any]] = []

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        """Store ``data``; its descriptor."""
        digest = sha256(data)
        (self.directory / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def layer(self, tar: Layer, compression: str) -> tuple[dict[str, Any], str]:
        """Store a layer compressed; its descriptor and diff_id (sha256 of the plain tar)."""
        if compression not in LAYER_MEDIA_TYPES:
            raise ValueError(f"compression must be one of {sorted(LAYER_MEDIA_TYPES)}")
        partial = self.directory / "blobs" / "layer.partial"
        diff_id, packed = hashlib.sha256(), hashlib.sha256()
        with contextlib.ExitStack() as stack:
            source = (
                stack.enter_context(open(tar, "rb")) if isinstance(tar, Path) else io.BytesIO(tar)
            )
            sink = stack.enter_context(open(partial, "wb"))
            if compression == "zstd":
                if shutil.which("zstd") is None:
                    raise RuntimeError("compression='zstd' needs the zstd binary")
                zstd = subprocess.Popen(
                    ["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE, stdout=sink
                )
                assert zstd.stdin is not None
                with zstd.stdin:
                    while chunk := source.read(1 << 20):
                        diff_id.update(chunk)
                        zstd.stdin.write(chunk)
                if zstd.wait() != 0:
                    raise RuntimeError("zstd failed")
            else:
                # Level 1 and mtime 0: fast, and the same tar gives the same blob every time.
                writer = (
                    gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0)
                    if compression == "gzip"
                    else sink
                )
                while chunk := source.read(1 << 20):
                    diff_id.update(chunk)
                    writer.write(chunk)
                if writer is not sink:
                    writer.close()
        size = 0
        with open(partial, "rb") as f:
            while chunk := f.read(1 << 20):
                packed.update(chunk)
                size += len(chunk)
        os.replace(partial, self.directory / "blobs" / "sha256" / packed.hexdigest())
        descriptor = {
            "mediaType": LAYER_MEDIA_TYPES[compression],
            "digest": "sha256:" + packed.hexdigest(),
            "size": size,
        }
        return descriptor, "sha256:" + diff_id.hexdigest()

    def image(
        self,
        layers: list[Layer],
        config: dict[str, Any] | None = None,
        *,
        compression: str = "gzip",
        architecture: str | None = None,
        os_name: str = "linux",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store an image's layers, config and manifest; the manifest's descriptor (with its
        platform). ``architecture`` may be ``arch/variant`` (``arm/v7``)."""
        arch, _, variant = (architecture or machine_arch()).partition("/")
        descriptors, diff_ids = [], []
        for tar in layers:
            descriptor, diff_id = self.layer(tar, compression)
            descriptors.append(descriptor)
            diff_ids.append(diff_id)
        image_config: dict[str, Any] = {
            "created": "1970-01-01T00:00:00Z",
            "architecture": arch,
            "os": os_name,
        }
        if variant:
            image_config["variant"] = variant
        if config is not None:
            image_config["config"] = config
        image_config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        image_config.update(extra or {})
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": self.blob(_json(image_config), CONFIG),
            "layers": descriptors,
        }
        descriptor = self.blob(_json(manifest), MANIFEST)
        descriptor["platform"] = {"architecture": arch, "os": os_name}
        if variant:
            descriptor["platform"]["variant"] = variant
        return descriptor

    def index(self, manifests: list[dict[str, Any]]) -> dict[str, Any]:
        """Store an image index of ``manifests``; its descriptor."""
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
        return self.blob(_json(index), INDEX)

    def tag(self, descriptor: dict[str, Any], tag: str) -> None:
        """Name ``descriptor`` ``tag`` in the layout's index.json."""
        ref = {k: v for k, v in descriptor.items() if k != "platform"}
        ref["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.refs.append(ref)
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": self.refs}
        (self.directory / "index.json").write_bytes(_json(index))


def push_image(
    registry: Registry,
    name: str,
    tag: str,
    layers: list[Layer],
    config: dict[str, Any] | None = None,
    compression: str = "gzip",
    *,
    architecture: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Push a one-platform image as ``name:tag``; its manifest digest ("sha256:...").

    ``layers``: uncompressed tars, bytes (see :func:`layer`) or files (see :func:`base_rootfs`),
    bottom first, stored ``compression`` ("gzip", "zstd" or "none"). ``config``: the image
    config's ``config`` (Env, WorkingDir, Entrypoint, Cmd, User, ...), none when None.
    ``architecture``: this machine's unless given (:func:`other_arch` for a foreign image).
    ``extra``: keys set on the image config last (to write odd ones).
    """
    with tempfile.TemporaryDirectory(prefix="ketch-oci-") as tmp:
        layout = Layout(Path(tmp) / "layout")
        descriptor = layout.image(
            layers, config, compression=compression, architecture=architecture, extra=extra
        )
        layout.tag(descriptor, tag)
        _skopeo_push(registry, layout, tag, name, descriptor["digest"])
        return descriptor["digest"]


def push_index(
    registry: Registry,
    name: str,
    tag: str,
    images: Mapping[str, tuple[list[Layer], dict[str, Any] | None]],
    compression: str = "gzip",
) -> str:
    """Push a multi-architecture image index as ``name:tag``: ``images`` maps an architecture
    (``amd64``, ``arm64``, ``arm/v7``) to its (layers, config) as :func:`push_image` takes them.
    Returns the index's digest; each image's is in ``skopeo inspect --raw``."""
    with tempfile.TemporaryDirectory(prefix="ketch-oci-") as tmp:
        layout = Layout(Path(tmp) / "layout")
        manifests = [
            layout.image(layers, config, compression=compression, architecture=arch)
            for arch, (layers, config) in images.items()
        ]
        descriptor = layout.index(manifests)
        layout.tag(descriptor, tag)
        _skopeo_push(registry, layout, tag, name, descriptor["digest"], all_images=True)
        return descriptor["digest"]


def _skopeo_push(
    registry: Registry,
    layout: Layout,
    tag: str,
    name: str,
    digest: str,
    all_images: bool = False,
) -> None:
    policy = layout.directory.parent / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    digestfile = layout.directory.parent / "digest"
    command = ["skopeo", "--policy", str(policy), "copy", "--quiet", "--preserve-digests"]
    command += ["--dest-tls-verify=false", "--digestfile", str(digestfile)]
    command += ["--all"] if all_images else []
    command += ["--dest-creds", registry.creds] if registry.creds else ["--dest-no-creds"]
    command += [f"oci:{layout.directory}:{tag}", f"docker://{registry.ref(name, tag)}"]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy to {registry.ref(name, tag)} failed:\n{result.stderr}")
    pushed = digestfile.read_text().strip()
    if pushed != digest:  # --preserve-digests should make this impossible
        raise RuntimeError(f"skopeo pushed {pushed}, not the {digest} written")

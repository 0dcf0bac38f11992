"""``ketch secret`` as a user runs it, then ``ketch run`` of an app using what it stored: real
subprocesses sharing one KETCH_HOME (not the test session's, whose control plane is running)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VALUE = "sk-live-9f8e7d6c5b4a"


def ketch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETCH_HOME": str(home)}
    env.pop("KETCH_SERVER", None)
    return subprocess.run([sys.executable, "-m", "ketch.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)


def test_create_list_run_delete(tmp_path):
    home = tmp_path / "home"
    created = ketch(home, "secret", "create", "cli-secret", f"API_KEY={VALUE}", "OTHER=x")
    assert created.returncode == 0, created.stderr
    assert "API_KEY, OTHER" in created.stdout and VALUE not in created.stdout
    assert stat.S_IMODE((home / "secret.key").stat().st_mode) == 0o600

    again = ketch(home, "secret", "create", "cli-secret", "API_KEY=other")
    assert again.returncode != 0 and "already exists" in again.stderr and "--force" in again.stderr

    listed = ketch(home, "secret", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["name"] == "cli-secret" and row["created"]
    table = ketch(home, "secret", "list")
    assert "cli-secret" in table.stdout
    for output in (listed.stdout, table.stdout):
        assert VALUE not in output and "API_KEY" not in output

    for name in ("ketch.db", "ketch.db-wal"):
        if (home / name).exists():
            assert VALUE.encode() not in (home / name).read_bytes()

    run = ketch(home, "run", "tests/apps/secrets_app_cli.py")
    assert run.returncode == 0, run.stderr
    assert f"container saw {VALUE}" in run.stdout

    deleted = ketch(home, "secret", "delete", "cli-secret")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(ketch(home, "secret", "list", "--json").stdout) == []
    gone = ketch(home, "secret", "delete", "cli-secret")
    assert gone.returncode != 0 and "no secret named 'cli-secret'" in gone.stderr


def test_run_fails_before_any_container_when_the_secret_or_a_key_is_missing(tmp_path):
    home = tmp_path / "home"
    missing = ketch(home, "run", "tests/apps/secrets_app_cli.py")
    assert missing.returncode != 0
    assert "no secret named 'cli-secret'" in missing.stderr
    assert "ketch secret create cli-secret KEY=VALUE" in missing.stderr
    assert "container saw" not in missing.stdout

    assert ketch(home, "secret", "create", "cli-secret", "OTHER=1").returncode == 0
    no_key = ketch(home, "run", "tests/apps/secrets_app_cli.py")
    assert no_key.returncode != 0
    assert "missing the required key(s) API_KEY" in no_key.stderr
    assert "container saw" not in no_key.stdout

    forced = ketch(home, "secret", "create", "cli-secret", f"API_KEY={VALUE}", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"container saw {VALUE}" in ketch(home, "run", "tests/apps/secrets_app_cli.py").stdout


def test_from_dotenv_and_bad_arguments(tmp_path):
    home = tmp_path / "home"
    dotenv = tmp_path / "prod.env"
    dotenv.write_text(f"export API_KEY='{VALUE}'\nOTHER=from-file\n")
    made = ketch(home, "secret", "create", "cli-secret", "--from-dotenv", str(dotenv), "OTHER=arg")
    assert made.returncode == 0, made.stderr
    assert "API_KEY, OTHER" in made.stdout

    no_equals = ketch(home, "secret", "create", "s", "JUSTAKEY")
    assert no_equals.returncode != 0 and "'JUSTAKEY' has no '='" in no_equals.stderr
    starts = ketch(home, "secret", "create", "s", f"={VALUE}")
    assert starts.returncode != 0 and VALUE not in starts.stderr
    empty = ketch(home, "secret", "create", "s")
    assert empty.returncode != 0 and "at least one key" in empty.stderr
    bad_key = ketch(home, "secret", "create", "s", f"NOT-VALID={VALUE}")
    assert bad_key.returncode != 0 and "cannot be a secret's key" in bad_key.stderr
    assert VALUE not in bad_key.stderr

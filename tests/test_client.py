"""`ketch.Client` (Modal's ``modal.Client``): the process's connection, connections made with
a user's token, and ``client=`` carried by the handles made with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ketch
from ketch import exception

PROGRAMS = Path(__file__).parent / "compat" / "programs"


def test_from_env_is_the_process_client_and_closing_it_makes_a_new_one():
    first = ketch.Client.from_env()
    first.hello()
    assert ketch.Client.from_env() is first and not first.is_closed()
    with pytest.raises(exception.InvalidError, match="client= takes a ketch.Client"):
        ketch.Dict.from_name("d", client="not a client")


def test_from_credentials_without_a_server_says_how_to_get_one(monkeypatch):
    monkeypatch.setenv("KETCH_SERVER", "")
    with pytest.raises(exception.InvalidError, match="start one with `ketch server`"):
        ketch.Client.from_credentials("ak-x", "secret")


def test_a_program_acting_with_a_users_token(server):
    made = server.cli("token", "new", "--no-save")
    assert made.returncode == 0, made.stderr
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines() if ":" in line)
    token_id, secret = fields["token id"].strip(), fields["token secret"].strip()
    result = subprocess.run(
        [sys.executable, "-m", "ketch.cli", "python", str(PROGRAMS / "client_credentials.py"),
         token_id, secret], env=server.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "refused a wrong secret", "run 42", "dict v", "sandbox hi 0", "closed True",
        "its handles closed with it", "env client True"]


def test_modal_types_are_ketchs_and_billing_items_read_as_mappings():
    from datetime import UTC, datetime
    from decimal import Decimal

    item = ketch.types.BillingReportItem("ap-1", "app", "main", datetime.now(UTC),
                                         Decimal("0.5"), {"cpu": Decimal("0.5")}, {})
    assert item["cost"] == Decimal("0.5") and dict(item.items())["object_id"] == "ap-1"
    with pytest.raises(KeyError):
        item["nope"]
    assert ketch.billing.BillingReportItem is ketch.types.BillingReportItem
    assert str(ketch.types.LogEntry("hi\n", datetime.now(UTC), "stdout", "fu-1", [])) == "hi\n"

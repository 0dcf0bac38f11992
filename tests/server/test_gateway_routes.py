"""The names web endpoints are served under, one namespace across environments."""

from __future__ import annotations

from ketch.server.gateway_routes import MAX_LABEL, served_label
from ketch.web import LABEL_RE


def test_main_keeps_its_labels_and_other_environments_go_before_them():
    assert served_label("shop-api", "main") == "shop-api"
    assert served_label("shop-api", "dev") == "dev--shop-api"
    assert served_label("shop-api", "Team.Dev_2") == "team-dev-2--shop-api"


def test_a_long_name_stays_a_dns_label_and_distinct():
    label = "x" * 63
    names = {served_label(label, env) for env in ("staging", "staging2", "Staging")}
    assert len(names) == 3
    assert all(len(name) <= MAX_LABEL and LABEL_RE.match(name) for name in names)

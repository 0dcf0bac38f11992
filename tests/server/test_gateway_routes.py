"""The names web endpoints are served under, one namespace across environments."""

from __future__ import annotations

from ketch.server.gateway_routes import MAX_LABEL, served_label
from ketch.web import LABEL_RE


def test_no_suffix_keeps_the_label_and_a_suffix_goes_after_it():
    assert served_label("shop-api", "") == "shop-api"
    assert served_label("shop-api", "dev") == "shop-api--dev"
    assert served_label("shop-api", "Team.Dev_2") == "shop-api--team-dev-2"


def test_a_long_name_stays_a_dns_label_and_distinct():
    label = "x" * 63
    names = {served_label(label, suffix) for suffix in ("staging", "staging2", "Staging")}
    assert len(names) == 3
    assert all(len(name) <= MAX_LABEL and LABEL_RE.match(name) for name in names)

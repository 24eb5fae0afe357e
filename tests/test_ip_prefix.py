"""Client IP prefixes (the ``ip_prefix`` link key): every spelling of an address, nothing invented."""

from __future__ import annotations

import polars as pl
import pytest

from distillguard.pipeline import ip_prefix


@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        (" 198.51.100.9", "198.51.100.0/24"),
        ("0.0.0.0", "0.0.0.0/24"),
        ("10.0.0.300", None),  # not an address
        ("1.2.3.4.5", None),
        ("2001:db8::1", "2001:db8::/48"),  # compressed IPv6
        ("2001:0DB8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:85a3::/48"),
        ("::ffff:203.0.113.7", "::/48"),
        ("unknown", None),
        ("", None),
        (None, None),
    ],
)
def test_ip_prefix(ip, prefix):
    assert ip_prefix(pl.Series([ip, "192.0.2.1"], dtype=pl.String)).to_list() == [prefix, "192.0.2.0/24"]

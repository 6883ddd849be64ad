"""Typed environment readers refuse bad values and treat empty as unset."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str


def test_empty_values_mean_the_default(monkeypatch):
    monkeypatch.setenv("PF_TEST", "")
    assert env_str("PF_TEST", "fallback") == "fallback"
    assert env_int("PF_TEST", 7) == 7
    assert env_bool("PF_TEST", True) is False  # an empty boolean is an explicit "off"


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False)])
def test_booleans(monkeypatch, raw, value):
    monkeypatch.setenv("PF_TEST", raw)
    assert env_bool("PF_TEST") is value


@pytest.mark.parametrize(
    ("reader", "raw"), [(env_bool, "maybe"), (lambda n: env_int(n, 1), "ten"), (lambda n: env_int(n, 1, minimum=1), "0")]
)
def test_bad_values_name_the_variable(monkeypatch, reader, raw):
    monkeypatch.setenv("PF_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match="PF_TEST"):
        reader("PF_TEST")


def test_lists(monkeypatch):
    monkeypatch.setenv("PF_TEST", " a.org, ,b.org ")
    assert env_list("PF_TEST", []) == ["a.org", "b.org"]

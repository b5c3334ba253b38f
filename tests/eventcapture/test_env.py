"""The settings' one parser (eventcapture/env.py): what each kind of value accepts, and that a value
it cannot parse stops start-up naming the variable, the value and what it accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from eventcapture.env import Env, ip_network_check

ROOT = Path(__file__).resolve().parents[2]
NAME = "EVENTCAPTURE_TEST_SETTING"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.delenv(f"{NAME}_FILE", raising=False)
    return Env()


def given(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(NAME, value)


# --- Booleans ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("\tNo\n", False),
    ],
)
def test_a_boolean_is_true_false_1_0_yes_or_no_in_any_case(env, monkeypatch, value, expected):
    given(monkeypatch, value)
    assert env.boolean(NAME, default=not expected) is expected


@pytest.mark.parametrize("value", ["maybe", "on", "off", "y", "n", "2", "-1", "truee", "t", "enabled"])
def test_any_other_boolean_stops_start_up_naming_the_variable_the_value_and_the_accepted_words(env, monkeypatch, value):
    given(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured) as error:
        env.boolean(NAME, default=False)
    assert str(error.value) == f"{NAME} must be true, false, 1, 0, yes or no (any case), got {value!r}."


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_value_is_an_unset_one(env, monkeypatch, value):
    given(monkeypatch, value)
    assert env.boolean(NAME, default=True) is True
    assert env.integer(NAME, default=7) == 7
    assert env.optional_integer(NAME) is None
    assert env.number(NAME, default=0.5) == 0.5
    assert env.duration(NAME, default=2.0) == 2.0
    assert env.text_list(NAME, default=["a"]) == ["a"]
    assert env.choice(NAME, default="text", choices=("text", "json")) == "text"


def test_unset_values_are_the_defaults(env):
    assert env.boolean(NAME, default=False) is False
    assert env.integer(NAME, default=500) == 500
    assert env.text(NAME, default="local") == "local"
    assert env.pattern_list(NAME, default=[]) == []
    assert env.secret(NAME) == ""


def test_empty_text_is_a_value_not_the_default(env, monkeypatch):
    given(monkeypatch, "")
    assert env.text(NAME, default="local") == ""


# --- Numbers and durations -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("500", 500), (" 42 ", 42), ("-3", -3), ("0", 0)])
def test_an_integer_is_read_as_written(env, monkeypatch, value, expected):
    given(monkeypatch, value)
    assert env.integer(NAME, default=1) == expected


@pytest.mark.parametrize("value", ["abc", "5.0", "1e3", "12 events", "0x10"])
def test_anything_but_a_whole_number_is_no_integer(env, monkeypatch, value):
    given(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured) as error:
        env.integer(NAME, default=1, minimum=1)
    assert str(error.value) == f"{NAME} must be an integer of at least 1, got {value!r}."


def test_an_integer_out_of_its_range_is_refused_with_the_range(env, monkeypatch):
    given(monkeypatch, "0")
    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME} must be an integer of at least 1, got '0'\.$"):
        env.integer(NAME, default=5, minimum=1)
    given(monkeypatch, "70000")
    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME} must be an integer from 0 to 65535, got '70000'\.$"):
        env.integer(NAME, default=9808, minimum=0, maximum=65535)
    given(monkeypatch, "65535")
    assert env.integer(NAME, default=9808, minimum=0, maximum=65535) == 65535


@pytest.mark.parametrize(("value", "expected"), [("2", 2.0), ("0.25", 0.25), (" 1e3 ", 1000.0), ("-1.5", -1.5)])
def test_a_number_is_a_decimal_number(env, monkeypatch, value, expected):
    given(monkeypatch, value)
    assert env.number(NAME, default=0.0) == expected


@pytest.mark.parametrize("value", ["5s", "1,5", "nan", "inf", "-infinity", "two"])
def test_a_number_with_a_unit_or_that_is_not_finite_is_refused(env, monkeypatch, value):
    # django-environ alone reads "5s" as 5.0 and "1,5" as 1.5.
    given(monkeypatch, value)
    with pytest.raises(ImproperlyConfigured) as error:
        env.number(NAME, default=1.0)
    assert str(error.value) == f"{NAME} must be a number, got {value!r}."


def test_a_duration_is_a_positive_number_of_its_unit(env, monkeypatch):
    given(monkeypatch, "0.5")
    assert env.duration(NAME, default=2.0) == 0.5
    for value in ("0", "-1", "2m", "nan"):
        given(monkeypatch, value)
        with pytest.raises(ImproperlyConfigured) as error:
            env.duration(NAME, default=2.0)
        assert str(error.value) == f"{NAME} must be a positive number of seconds, got {value!r}."
    given(monkeypatch, "0")
    assert env.duration(NAME, default=5.0, zero=True) == 0.0
    given(monkeypatch, "-1")
    with pytest.raises(ImproperlyConfigured, match="must be 0 or a positive number of minutes, got '-1'"):
        env.duration(NAME, default=15.0, unit="minutes", zero=True)


# --- Text, choices and lists ---------------------------------------------------------------------


def test_a_choice_is_compared_in_the_case_of_its_choices_and_refused_otherwise(env, monkeypatch):
    given(monkeypatch, " JSON ")
    assert env.choice(NAME, default="text", choices=("text", "json")) == "json"
    given(monkeypatch, "sasl_ssl")
    assert env.choice(NAME, default="PLAINTEXT", choices=("PLAINTEXT", "SASL_SSL"), case=str.upper) == "SASL_SSL"
    given(monkeypatch, "yaml")
    with pytest.raises(ImproperlyConfigured) as error:
        env.choice(NAME, default="text", choices=("text", "json"))
    assert str(error.value) == f"{NAME} must be one of text, json, got 'yaml'."


def test_a_list_is_comma_separated_with_blanks_and_empty_entries_dropped(env, monkeypatch):
    given(monkeypatch, " events.example.org , .example.net,, ")
    assert env.text_list(NAME, default=[]) == ["events.example.org", ".example.net"]


def test_a_list_entry_its_check_refuses_is_named_with_the_value(env, monkeypatch):
    given(monkeypatch, "10.0.0.0/8, proxy.internal")
    with pytest.raises(ImproperlyConfigured) as error:
        env.text_list(NAME, default=[], item=ip_network_check, items="IP addresses or networks")
    assert str(error.value) == (
        f"{NAME} must be comma-separated IP addresses or networks, got '10.0.0.0/8, proxy.internal': "
        "'proxy.internal' is not one."
    )
    given(monkeypatch, "10.0.0.0/8, 192.0.2.7, 2001:db8::/32")
    assert env.text_list(NAME, default=[], item=ip_network_check) == ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"^https://a\.org$, ^https://b\.org$", [r"^https://a\.org$", r"^https://b\.org$"]),
        (r'["^https://a\\.org$", "^https://(x|y){1,2}\\.org$"]', [r"^https://a\.org$", r"^https://(x|y){1,2}\.org$"]),
        ("", ["default"]),
    ],
)
def test_a_pattern_list_is_comma_separated_or_a_json_array(env, monkeypatch, raw, expected):
    given(monkeypatch, raw)
    assert env.pattern_list(NAME, default=["default"]) == expected


@pytest.mark.parametrize("raw", ["^https://(unclosed$", '["^a$", 7]', "[not json", '[{"a": 1}]', "^a$,,^b$"])
def test_an_invalid_pattern_list_stops_start_up_naming_the_variable_and_the_value(env, monkeypatch, raw):
    given(monkeypatch, raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env.pattern_list(NAME, default=[])
    assert str(error.value).startswith(f"{NAME} must be ")
    assert repr(raw) in str(error.value)


def test_a_plain_value_may_name_another_variable_as_django_environ_reads_it(env, monkeypatch):
    monkeypatch.setenv("EVENTCAPTURE_TEST_OTHER", "7")
    given(monkeypatch, "$EVENTCAPTURE_TEST_OTHER")
    assert env.integer(NAME, default=1) == 7


# --- Secrets -------------------------------------------------------------------------------------


def test_secrets_are_read_literally_and_a_secret_list_from_a_file_one_a_line(env, monkeypatch, tmp_path):
    given(monkeypatch, "$not-a-reference, second")
    assert env.secret_list(NAME) == ["$not-a-reference", "second"]
    monkeypatch.delenv(NAME)
    keys = tmp_path / "keys"
    keys.write_text("first-key\n\nsecond-key\r\n")
    monkeypatch.setenv(f"{NAME}_FILE", str(keys))
    assert env.secret_list(NAME) == ["first-key", "second-key"]


@pytest.mark.parametrize("url", ["mysecretpassword@db", "postgress://user:mysecretpassword@db/events", " "])
def test_a_database_url_that_is_none_is_refused_without_repeating_it(env, monkeypatch, recwarn, url):
    given(monkeypatch, url)
    with pytest.raises(ImproperlyConfigured) as error:
        env.database(NAME, default="not-a-url-mysecretpassword")
    assert str(error.value).startswith(f"{NAME} must be a database URL such as postgres://")
    assert "mysecretpassword" not in str(error.value)
    assert not [warning for warning in recwarn if "mysecretpassword" in str(warning.message)]


def test_a_database_url_is_read_as_django_environ_reads_it(env, monkeypatch):
    given(monkeypatch, "postgres://capture:pa55@db.internal:5432/events")
    config = env.database(NAME, default="sqlite:///x.sqlite3")
    assert (config["ENGINE"], config["HOST"], config["NAME"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        "events",
    )


# --- Start-up ------------------------------------------------------------------------------------


def settings_load(**variables: str) -> subprocess.CompletedProcess[str]:
    """Loads the settings as a process starting with only these variables (and a key) would."""
    return subprocess.run(
        [sys.executable, "-c", "import eventcapture.settings"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
            "SECRET_KEY": "start-up-test-key",
            **variables,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"MAX_EVENTS_PER_REQUEST": "abc"}, "MAX_EVENTS_PER_REQUEST must be an integer of at least 1, got 'abc'."),
        ({"DEBUG": "maybe"}, "DEBUG must be true, false, 1, 0, yes or no (any case), got 'maybe'."),
        ({"QUEUE_TIMEOUT": "2s"}, "QUEUE_TIMEOUT must be a positive number of seconds, got '2s'."),
        (
            {"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"},
            "TRUSTED_PROXIES must be comma-separated IP addresses or networks (CIDR), e.g. 10.0.0.0/8, "
            "got '10.0.0.0/8,proxy.internal': 'proxy.internal' is not one.",
        ),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'."),
    ],
    ids=["integer", "boolean", "duration", "list", "choice"],
)
def test_a_value_that_does_not_parse_stops_start_up_with_improperly_configured(variables, message):
    result = settings_load(**variables)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"django.core.exceptions.ImproperlyConfigured: {message}"

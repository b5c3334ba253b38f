from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from events.enrichment import (
    occurred_at_millis,
    query_parse,
    rfc3339_epoch_microseconds,
    rfc3339_parse,
    source_uri_split,
    uuid_or_none,
)
from events.services import event_ids


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://x.org/p?a=1&w=me&w=and&w=my%20shadow", {"a": ["1"], "w": ["me", "and", "my shadow"]}),
        ("https://x.org/p?a=1;b=2", {"a": ["1"], "b": ["2"]}),
        ("https://x.org/p?b", {"b": []}),
        ("https://x.org/p?b=", {"b": [""]}),
        ("https://x.org/p?", {}),
        ("https://x.org/p", None),
        ("https://x.org/p?q=a+b&q=c%2Bd", {"q": ["a b", "c+d"]}),
        ("https://x.org/p?a=1#frag?x=2", {"a": ["1"]}),
        ("https://x.org/p#frag?x=2", None),
        ("https://x.org/p?a=1&&b=x=y", {"a": ["1"], "b": ["x=y"]}),
    ],
)
def test_it_parses_queries_by_the_old_services_rules(uri, expected):
    assert source_uri_split(uri).query == expected


def test_it_splits_a_source_uri_into_scheme_host_and_path():
    parts = source_uri_split("HTTPS://OpenStax.org:443/books/physics/pages/1-intro?book_id=34343")
    assert (parts.scheme, parts.host, parts.path) == ("https", "openstax.org", "/books/physics/pages/1-intro")
    assert parts.query == {"book_id": ["34343"]}


@pytest.mark.parametrize("uri", ["/relative/path", "ftp://x.org/file", "https://", "mailto:a@b.org", "openstax.org/p"])
def test_it_refuses_a_source_uri_that_is_not_absolute_http(uri):
    with pytest.raises(ValueError, match="absolute"):
        source_uri_split(uri)


def test_it_query_parse_gives_none_without_a_question_mark():
    assert query_parse(None) is None


def test_it_corrects_clock_skew_as_the_spec_example_says():
    day = "2020-01-01T00:00:"
    result = occurred_at_millis(
        occurred=rfc3339_epoch_microseconds(day + "42Z"),
        sent=rfc3339_epoch_microseconds(day + "45Z"),
        received=rfc3339_epoch_microseconds(day + "38Z"),
    )
    assert result == int(datetime(2020, 1, 1, 0, 0, 35, tzinfo=UTC).timestamp() * 1000)


def test_it_floors_occurred_at_to_whole_milliseconds():
    occurred = rfc3339_epoch_microseconds("1970-01-01T00:00:00.0019Z")
    same = rfc3339_epoch_microseconds("1970-01-01T00:00:00Z")
    assert occurred_at_millis(occurred=occurred, sent=same, received=same) == 1
    before = rfc3339_epoch_microseconds("1969-12-31T23:59:59.9991Z")
    assert occurred_at_millis(occurred=before, sent=same, received=same) == -1


def test_it_reads_rfc3339_forms_that_fromisoformat_refuses():
    assert rfc3339_parse("2020-10-06t18:14:22z") == datetime(2020, 10, 6, 18, 14, 22, tzinfo=UTC)
    assert rfc3339_parse("2016-12-31T23:59:60Z") == datetime(2017, 1, 1, tzinfo=UTC)
    assert rfc3339_parse("2020-10-06T20:14:22.5+02:00") == datetime(2020, 10, 6, 18, 14, 22, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("1969-12-31T23:59:59.999999Z", datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2026-11-30T10:00:07.007Z", datetime(2026, 11, 30, 10, 0, 7, 7000, tzinfo=UTC)),
        ("2026-11-30t10:00:07.007z", datetime(2026, 11, 30, 10, 0, 7, 7000, tzinfo=UTC)),
        ("2026-11-30T12:00:07-01:30", datetime(2026, 11, 30, 13, 30, 7, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_a_date_time_is_exactly_its_microseconds_since_the_epoch(text, moment):
    exact = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert rfc3339_epoch_microseconds(text) == exact


def test_it_refuses_a_date_time_without_an_offset():
    with pytest.raises(ValueError, match="offset"):
        rfc3339_parse("2020-10-06T18:14:22")


def test_it_keeps_only_uuids_from_a_device_cookie():
    assert uuid_or_none("ED3CDD93-6688-4FCB-B5B3-DA3E71052454") == "ed3cdd93-6688-4fcb-b5b3-da3e71052454"
    assert uuid_or_none("not-a-uuid") is None
    assert uuid_or_none("") is None
    assert uuid_or_none(None) is None


def test_event_ids_are_distinct_random_uuids_in_canonical_text():
    ids = event_ids(2000)

    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert event_ids(0) == []

"""Duration parsing: the units, round-tripping, and the messages a person sees."""

from datetime import timedelta

import pytest

from gridflow.domain.duration import Duration, parse_fraction


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("5wd", 5, "wd"),
        ("4wh", 4, "wh"),
        ("48h", 48, "h"),
        ("3d", 3, "d"),
        ("1.5wh", 1.5, "wh"),
        ("30m", 30, "m"),
        (" 5 WD ", 5, "wd"),
        ("0wd", 0, "wd"),
        (".5wh", 0.5, "wh"),
    ],
)
def test_parse_good(text, amount, unit):
    d = Duration.parse(text)
    assert (d.amount, d.unit) == (amount, unit)
    assert Duration.parse(str(d)) == d


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(5, "wd"), "5wd"),
        (Duration(1.5, "wh"), "1.5wh"),
        (Duration(0.00001, "h"), "0.00001h"),
    ],
)
def test_str_round_trips(duration, text):
    assert str(duration) == text
    assert Duration.parse(text) == duration


def test_did_you_mean_on_bad_unit():
    with pytest.raises(ValueError, match=r"unknown unit 'wds'.*\(did you mean 'wd'\?\)"):
        Duration.parse("5wds")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot read duration"),
        ("wd", "cannot read duration"),
        ("5", "has no unit"),
        (5, "has no unit"),
        (2.5, "has no unit"),
        ("-5wd", "negative"),
        ("5 weeks", "unknown unit 'weeks'"),
        ("1.2.3wh", "cannot read duration"),
        (True, "must be text"),
        (None, "must be text"),
    ],
)
def test_parse_bad(text, message):
    with pytest.raises(ValueError, match=message):
        Duration.parse(text)


def test_constructor_validates():
    with pytest.raises(ValueError, match="did you mean 'wh'"):
        Duration(1, "whh")
    with pytest.raises(ValueError, match=">= 0"):
        Duration(-1, "h")


def test_working_time_and_timedelta():
    assert Duration.parse("5wd").is_working_time
    assert Duration.parse("4wh").is_working_time
    assert not Duration.parse("48h").is_working_time
    assert Duration.parse("3d").as_timedelta() == timedelta(days=3)
    assert Duration.parse("30m").as_timedelta() == timedelta(minutes=30)
    with pytest.raises(ValueError, match="business calendar"):
        Duration.parse("1wd").as_timedelta()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", 0.5),
        ("80 %", 0.8),
        ("150%", 1.5),
        ("0.8", 0.8),
        (0.5, 0.5),
        (1, 1.0),
        ("2", None),
        ("4wh", None),
        ("", None),
        (True, None),
    ],
)
def test_parse_fraction(text, expected):
    assert parse_fraction(text) == expected


def test_parse_fraction_bad_percentage():
    with pytest.raises(ValueError, match="percentage"):
        parse_fraction("-5%")

"""The rules of a usage report's period: its days, its defaults, its limits."""

from __future__ import annotations

from datetime import date

import pytest

from chatservice.domain.errors import InvalidInput
from chatservice.domain.usage import GroupBy, day_named, group_by_named, report_period

TODAY = date(2031, 2, 14)


def test_by_default_a_report_covers_this_month_up_to_today() -> None:
    assert report_period(None, None, TODAY) == (date(2031, 2, 1), TODAY)


def test_a_report_ending_on_a_given_day_starts_by_default_on_the_first_of_its_month() -> None:
    assert report_period(None, date(2030, 12, 25), TODAY) == (date(2030, 12, 1), date(2030, 12, 25))


def test_a_report_starting_on_a_given_day_ends_by_default_today() -> None:
    assert report_period(date(2031, 1, 9), None, TODAY) == (date(2031, 1, 9), TODAY)


def test_a_report_may_cover_a_single_day_or_a_whole_leap_year_but_no_more() -> None:
    assert report_period(TODAY, TODAY, TODAY) == (TODAY, TODAY)
    assert report_period(date(2028, 1, 1), date(2028, 12, 31), TODAY)
    with pytest.raises(InvalidInput, match="at most 366 days"):
        report_period(date(2028, 1, 1), date(2029, 1, 1), TODAY)


def test_a_report_whose_first_day_comes_after_its_last_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must not come after"):
        report_period(date(2031, 2, 15), None, TODAY)


@pytest.mark.parametrize(
    "text",
    [
        "2031-02-30",
        "20310214",
        "2031-2-14",
        "2031-02-14T00:00",
        "\uff12\uff10\uff13\uff11-02-14",
        "",
        "x",
    ],
)
def test_a_day_is_written_yyyy_mm_dd_in_ascii_digits_and_exists(text: str) -> None:
    with pytest.raises(InvalidInput, match="from must be a day as YYYY-MM-DD"):
        day_named(text, "from")


def test_a_day_and_a_grouping_are_read_by_name() -> None:
    assert day_named("2031-02-14", "to") == TODAY
    assert group_by_named("model") is GroupBy.MODEL
    with pytest.raises(InvalidInput, match="group_by must be one of 'day', 'model'"):
        group_by_named("week")

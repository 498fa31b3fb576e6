"""IB's historical-data pacing on both sides: the adapter's ``HistoryPacer`` (fake
clock) and the simulator's request parsing (end, duration, window)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.brokers.ibkr.pacing import HistoryPacer
from adapters.brokers.ibkr_sim.historical import (
    BadRequest,
    parse_duration,
    parse_end,
    window_start,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pacer(clock: Clock, **limits: float) -> HistoryPacer:
    values = {"max_requests": 60, "window_s": 600.0, "identical_s": 15.0, "per_contract": 5,
              "per_contract_window_s": 2.0, **limits}  # fmt: skip
    return HistoryPacer(clock=clock, **values)  # type: ignore[arg-type]


def test_try_take_when_sixty_in_ten_minutes_then_the_61st_waits_for_the_oldest_to_age() -> None:
    clock = Clock()
    p = pacer(clock, per_contract=1000)
    for i in range(60):
        assert p.try_take(("AAPL", i), "AAPL") == 0.0
        clock.t += 1.0
    assert p.try_take(("AAPL", 60), "AAPL") == pytest.approx(540.0)  # 600 - 60 s elapsed
    clock.t += 540.0
    assert p.try_take(("AAPL", 60), "AAPL") == 0.0


def test_try_take_when_identical_request_within_15_s_then_waits_the_rest() -> None:
    clock = Clock()
    p = pacer(clock)
    assert p.try_take("same", "AAPL") == 0.0
    clock.t += 10.0
    assert p.try_take("same", "AAPL") == pytest.approx(5.0)
    assert p.try_take("other", "AAPL") == 0.0  # a different request is not held back
    clock.t += 5.0
    assert p.try_take("same", "AAPL") == 0.0


def test_try_take_when_sixth_request_for_one_contract_in_2_s_then_waits() -> None:
    clock = Clock()
    p = pacer(clock)
    for i in range(5):
        assert p.try_take(i, "MSFT") == 0.0
        clock.t += 0.1
    assert p.try_take(5, "MSFT") == pytest.approx(1.5)
    assert p.try_take(5, "IBM") == 0.0  # another contract is free


def test_try_take_when_refused_then_nothing_is_counted() -> None:
    clock = Clock()
    p = pacer(clock, max_requests=1)
    assert p.try_take("a", "X") == 0.0
    for _ in range(3):
        assert p.try_take("b", "X") > 0
    clock.t += 600.0
    assert p.try_take("b", "X") == 0.0
    assert p.try_take("c", "X") == pytest.approx(600.0)


async def test_acquire_when_identical_window_short_then_waits_then_grants() -> None:
    p = HistoryPacer(identical_s=0.05)
    await p.acquire("r", "AAPL")
    await p.acquire("r", "AAPL")  # returns once 0.05 s have passed
    assert p.try_take("r", "AAPL") > 0


def test_history_pacer_when_limits_not_positive_then_value_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        HistoryPacer(max_requests=0)


@pytest.mark.parametrize(
    ("text", "zone", "day"),
    [
        ("20130301 23:59:59 US/Eastern", "US/Eastern", date(2013, 3, 1)),
        ("20130301 23:59:59 UTC", "US/Eastern", date(2013, 3, 1)),  # 18:59 in New York
        ("20130302 03:00:00 UTC", "US/Eastern", date(2013, 3, 1)),
        ("20130302-03:00:00", "US/Eastern", date(2013, 3, 1)),  # dash form is UTC
        ("20130301 22:00:00 US/Eastern", "Europe/Paris", date(2013, 3, 2)),
        ("20130301", "US/Eastern", date(2013, 3, 1)),
        ("20130301 10:00:00", "Europe/Paris", date(2013, 3, 1)),  # no zone: the listing's
    ],
)
def test_parse_end_when_ib_formats_then_end_day_in_the_listing_zone(
    text: str, zone: str, day: date
) -> None:
    assert parse_end(text, zone) == day


@pytest.mark.parametrize("text", ["2013-03-01", "20130301 25:00:00", "20130301 10:00:00 Mars/X"])
def test_parse_end_when_malformed_then_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match="end date"):
        parse_end(text, "US/Eastern")


@pytest.mark.parametrize(
    ("text", "parsed"), [("30 D", (30, "D")), ("2 Y", (2, "Y")), (" 6 M ", (6, "M"))]
)
def test_parse_duration_when_valid_then_count_and_unit(text: str, parsed: tuple[int, str]) -> None:
    assert parse_duration(text) == parsed


@pytest.mark.parametrize("text", ["0 D", "30", "D 30", "3 H", "60 S"])
def test_parse_duration_when_invalid_then_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_duration(text)


@pytest.mark.parametrize(
    ("n", "unit", "start"),
    [
        (10, "D", date(2013, 2, 19)),
        (2, "W", date(2013, 2, 15)),
        (1, "M", date(2013, 2, 28)),  # 31 March - 1 month: end of February
        (1, "Y", date(2012, 3, 31)),
    ],
)
def test_window_start_when_unit_then_exclusive_lower_bound(n: int, unit: str, start: date) -> None:
    end = date(2013, 3, 1) if unit in "DW" else date(2013, 3, 31)
    assert window_start(end, n, unit) == start

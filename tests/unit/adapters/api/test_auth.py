"""The API's rate limiter and sessions on a fake clock; the SVG charts' geometry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.api.auth import MAX_BUCKETS, RateLimits, Sessions, token_key
from adapters.api.charts import equity_charts, line_chart
from adapters.api.schemas import EquityHistory, EquityPoint


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_bucket_when_emptied_then_waits_and_refills_at_the_per_minute_rate() -> None:
    tick = Tick()
    limits = RateLimits(60, clock=tick)
    assert [limits.take("a")[0] for _ in range(60)] == [0.0] * 60
    wait, first = limits.take("a")
    assert wait == pytest.approx(1.0) and first
    wait, first = limits.take("a")
    assert wait > 0 and not first  # the audit hears of the first refusal only
    assert limits.take("b") == (0.0, False)  # buckets are per key
    tick.t += 1.0
    assert limits.take("a") == (0.0, False)
    assert limits.take("a")[1]  # limited again: a new first refusal


def test_buckets_when_too_many_keys_then_idle_full_ones_forgotten() -> None:
    limits = RateLimits(5, clock=Tick())
    for i in range(MAX_BUCKETS + 1):
        limits.take(f"k{i}")
    assert len(limits._buckets) <= MAX_BUCKETS // 2 + 1


def test_session_when_expired_then_gone_and_token_kept_in_memory_only() -> None:
    now = [datetime(2024, 3, 1, tzinfo=UTC)]
    sessions = Sessions(ttl=timedelta(hours=1), clock=lambda: now[0])
    sid, session = sessions.open("qrm_secret", "ada")
    assert sid != "qrm_secret" and session.key == token_key("qrm_secret")
    assert sessions.get(sid) == session
    now[0] += timedelta(hours=1)
    assert sessions.get(sid) is None
    sid2, _ = sessions.open("qrm_secret", "ada")
    sessions.close(sid2)
    assert sessions.get(sid2) is None


def test_token_key_when_hashed_then_sha256_not_the_token() -> None:
    key = token_key("qrm_abc")
    assert len(key) == 64 and "qrm_abc" not in key


def point(day: int, equity: float, peak: float) -> EquityPoint:
    return EquityPoint(
        date=date(2013, 2, day), equity=equity, peak=peak, drawdown=equity / peak - 1
    )


def test_charts_when_history_then_points_scaled_inside_the_box_and_labels_escaped() -> None:
    history = EquityHistory(
        starting_cash=100.0,
        points=[point(25, 100.0, 100.0), point(26, 90.0, 100.0), point(27, 110.0, 110.0)],
        max_drawdown=-0.1,
    )
    charts = equity_charts(history)
    assert charts is not None
    equity, drawdown = charts
    assert 'id="equity-chart"' in equity and 'data-points="3"' in equity
    polyline = equity.split('<polyline class="series" fill="none" points="')[1].split('"')[0]
    ys = [float(p.split(",")[1]) for p in polyline.split()]
    assert ys[2] < ys[0] < ys[1]  # higher equity is higher up (smaller y)
    assert "<span>110</span>" in equity and "<span>2013-02-25</span>" in equity
    assert "<polygon" in drawdown and "<span>-10.0%</span>" in drawdown
    hostile = line_chart("c", "<b>", ["<x>", "<y>"], [1.0, 2.0], lambda v: "<z>")
    assert "<b>" not in hostile and "&lt;x&gt;" in hostile and "<z>" not in hostile


def test_charts_when_no_history_then_none() -> None:
    assert equity_charts(EquityHistory(starting_cash=1.0, points=[], max_drawdown=0.0)) is None

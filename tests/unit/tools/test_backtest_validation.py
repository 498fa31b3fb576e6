"""The engine refuses impossible results: each check fires on a doctored output."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.backtest import BacktestConfig, BacktestValidationError, run_arrays
from tools.backtest.kernel import N_TR, STATUS_OK, STATUS_RUINED, TR_PNL, simulate
from tools.backtest.sweep import sweep
from tools.backtest.validate import replay_equity, validate_run
from tools.costs import CommissionModel

RNG = np.random.default_rng(11)
CLOSE = 50 * np.exp(np.cumsum(RNG.normal(0, 0.02, (1, 120)), axis=1))
OPEN = CLOSE * np.exp(RNG.normal(0, 0.004, CLOSE.shape))
HIGH = np.maximum(OPEN, CLOSE) * 1.01
LOW = np.minimum(OPEN, CLOSE) * 0.99
SIGNAL = np.where(RNG.random(CLOSE.shape) < 0.5, 1, 0).astype(np.int8)


def _run(cfg: BacktestConfig) -> tuple[np.ndarray, ...]:
    c = cfg.kernel_config()
    equity, exposure = np.empty(120), np.empty(120)
    trades = np.empty((240, N_TR))
    n, _, status = simulate(
        OPEN,
        HIGH,
        LOW,
        CLOSE,
        SIGNAL,
        np.full(CLOSE.shape, np.nan),
        c,
        equity,
        exposure,
        trades,
        True,
    )
    return c, equity, exposure, trades[:n], status


def test_untouched_run_when_validated_then_passes_and_replay_matches() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig(slippage_bps=5))
    validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, equity, exposure, trades, status)
    np.testing.assert_allclose(replay_equity(CLOSE, c, trades), equity, rtol=1e-12)


def test_equity_when_nan_then_error_names_the_bar() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig())
    equity[40] = np.nan
    with pytest.raises(BacktestValidationError, match="bar 40"):
        validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, equity, exposure, trades, status)


def test_equity_when_compounded_wrongly_then_ledger_and_bound_errors() -> None:
    # The old engine's failure mode: returns compounding into "billions of %".
    c, equity, exposure, trades, status = _run(BacktestConfig())
    bogus = equity * np.cumprod(np.full(120, 1.2))
    with pytest.raises(BacktestValidationError) as err:
        validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, bogus, exposure, trades, status)
    text = " ".join(err.value.problems)
    assert "ledger" in text and "sanity bound" in text


def test_trade_pnl_when_tampered_then_ledger_mismatch() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig())
    trades[0, TR_PNL] += 100.0
    with pytest.raises(BacktestValidationError, match="ledger"):
        validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, equity, exposure, trades, status)


def test_equity_path_when_one_bar_shifted_then_replay_flags_it() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig())
    equity[60] += 5.0
    with pytest.raises(BacktestValidationError, match="replay: equity at bar 60"):
        validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, equity, exposure, trades, status)


def test_long_only_when_equity_negative_or_ruined_then_impossible() -> None:
    c, equity, exposure, trades, _ = _run(BacktestConfig())
    with pytest.raises(BacktestValidationError, match="long-only"):
        validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, equity, exposure, trades, STATUS_RUINED)
    with pytest.raises(BacktestValidationError, match="long-only"):
        validate_run(OPEN, HIGH, LOW, CLOSE, SIGNAL, c, -equity, exposure, trades, STATUS_OK)


def test_sweep_when_runs_are_sane_then_no_error_and_one_row_per_run() -> None:
    signals = np.stack([SIGNAL, 1 - SIGNAL]).astype(np.int8)
    result = sweep(OPEN, HIGH, LOW, CLOSE, signals, BacktestConfig())
    assert result.metrics.shape == (2, 1, 11)
    assert np.all(result.column("invalid") == 0.0)


@given(
    seed=st.integers(0, 10_000),
    allow_short=st.booleans(),
    stop=st.sampled_from([0.0, 0.02, 0.08]),
    trail=st.sampled_from([0.0, 0.05]),
    take=st.sampled_from([0.0, 0.1]),
    levels=st.integers(0, 2),
    per_share=st.booleans(),
)
def test_random_markets_and_configs_when_run_then_always_pass_own_validation(
    seed: int,
    allow_short: bool,
    stop: float,
    trail: float,
    take: float,
    levels: int,
    per_share: bool,
) -> None:
    rng = np.random.default_rng(seed)
    close = 30 * np.exp(np.cumsum(rng.normal(0, 0.03, (3, 80)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.01, close.shape))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, close.shape))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, close.shape))
    signal = rng.integers(-1, 2, close.shape).astype(np.int8)
    commission = (
        CommissionModel.ibkr_us_fixed()
        if per_share
        else CommissionModel(kind="percent", rate=0.001)
    )
    cfg = BacktestConfig(
        cash=50_000, size_fraction=0.3, allow_short=allow_short, commission=commission,
        slippage_bps=3, stop_loss=stop, trailing_stop=trail, take_profit=take,
        pyramid_levels=levels, pyramid_fraction=0.2,
    )  # fmt: skip
    atr = np.abs(high - low)  # any positive spacing will do for the property
    result = run_arrays(open_, high, low, close, signal, cfg, atr=atr)  # raises if unsound
    assert result.metrics.equity_final == pytest.approx(
        50_000 + sum(t.pnl for t in result.trades), rel=1e-9
    )
    assert all(t.size > 0 and t.entry_bar <= t.exit_bar for t in result.trades)
    assert all(1 <= t.tranches <= levels + 1 for t in result.trades)

"""The engine refuses impossible results: each check fires on a doctored output."""

from __future__ import annotations

import numpy as np
import pytest

from tools.backtest import BacktestConfig, BacktestValidationError
from tools.backtest.kernel import N_TR, STATUS_OK, STATUS_RUINED, TR_PNL, simulate
from tools.backtest.sweep import sweep
from tools.backtest.validate import replay_equity, validate_run

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
    validate_run(HIGH, LOW, CLOSE, c, equity, exposure, trades, status)
    np.testing.assert_allclose(replay_equity(CLOSE, c, trades), equity, rtol=1e-12)


def test_equity_when_nan_then_error_names_the_bar() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig())
    equity[40] = np.nan
    with pytest.raises(BacktestValidationError, match="bar 40"):
        validate_run(HIGH, LOW, CLOSE, c, equity, exposure, trades, status)


def test_equity_when_compounded_wrongly_then_ledger_and_bound_errors() -> None:
    # The old engine's failure mode: returns compounding into "billions of %".
    c, equity, exposure, trades, status = _run(BacktestConfig())
    bogus = equity * np.cumprod(np.full(120, 1.2))
    with pytest.raises(BacktestValidationError) as err:
        validate_run(HIGH, LOW, CLOSE, c, bogus, exposure, trades, status)
    text = " ".join(err.value.problems)
    assert "ledger" in text and "sanity bound" in text


def test_trade_pnl_when_tampered_then_ledger_mismatch() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig())
    trades[0, TR_PNL] += 100.0
    with pytest.raises(BacktestValidationError, match="ledger"):
        validate_run(HIGH, LOW, CLOSE, c, equity, exposure, trades, status)


def test_equity_path_when_one_bar_shifted_then_replay_flags_it() -> None:
    c, equity, exposure, trades, status = _run(BacktestConfig())
    equity[60] += 5.0
    with pytest.raises(BacktestValidationError, match="replay: equity at bar 60"):
        validate_run(HIGH, LOW, CLOSE, c, equity, exposure, trades, status)


def test_long_only_when_equity_negative_or_ruined_then_impossible() -> None:
    c, equity, exposure, trades, _ = _run(BacktestConfig())
    with pytest.raises(BacktestValidationError, match="long-only"):
        validate_run(HIGH, LOW, CLOSE, c, equity, exposure, trades, STATUS_RUINED)
    with pytest.raises(BacktestValidationError, match="long-only"):
        validate_run(HIGH, LOW, CLOSE, c, -equity, exposure, trades, STATUS_OK)


def test_sweep_when_runs_are_sane_then_no_error_and_one_row_per_run() -> None:
    signals = np.stack([SIGNAL, 1 - SIGNAL]).astype(np.int8)
    result = sweep(OPEN, HIGH, LOW, CLOSE, signals, BacktestConfig())
    assert result.metrics.shape == (2, 1, 11)
    assert np.all(result.column("invalid") == 0.0)

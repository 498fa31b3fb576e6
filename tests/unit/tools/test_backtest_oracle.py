"""Oracle: our engine against vectorbt's ``Portfolio.from_signals`` on the shipped data.

Same conventions on both sides: a signal computed at bar t's close fills at bar t+1's open
(vectorbt gets ``price=open`` and the signal shifted by one bar), whole shares
(``size_granularity=1``), size = a fraction of cash with the fee inside the budget
(``size_type="percent"``), percent fees and slippage on both legs. vectorbt cannot reverse
a position in one bar with percent sizing, so the parity runs are long-only and short-only.
Expected: the same trades (entry bar, exit bar, size) and final equity within 1e-6.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.marketdata.files import load_bars
from core.bars import BarSeries
from tools.backtest import BacktestConfig, run_bars
from tools.costs import CommissionModel
from tools.strategies import STRATEGIES, signal_for

vbt = pytest.importorskip("vectorbt")

DATA = sorted((Path(__file__).resolve().parents[3] / "data" / "us_daily").glob("*.csv.gz"))
COSTS = [
    {"fees": 0.0, "slippage_bps": 0.0, "fraction": 1.0},
    {"fees": 0.001, "slippage_bps": 5.0, "fraction": 0.9},
]


@pytest.fixture(scope="module", params=DATA, ids=lambda p: p.name.split(".")[0])
def bars(request: pytest.FixtureRequest) -> BarSeries:
    return load_bars(request.param).adjusted_view()


@pytest.mark.parametrize("direction", ["longonly", "shortonly"])
@pytest.mark.parametrize("costs", COSTS, ids=["no_costs", "fees_slippage"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_engine_when_same_signals_then_same_trades_and_equity_as_vectorbt(
    bars: BarSeries, strategy: str, costs: dict[str, float], direction: str
) -> None:
    signal, _ = signal_for(strategy, bars.open, bars.high, bars.low, bars.close)
    side = 1 if direction == "longonly" else -1
    ours_signal = np.where(signal == side, side, 0).astype(np.int8)
    cfg = BacktestConfig(
        cash=100_000.0,
        size_fraction=costs["fraction"],
        allow_short=side < 0,
        commission=CommissionModel(kind="percent", rate=costs["fees"]),
        slippage_bps=costs["slippage_bps"],
    )
    ours = run_bars(bars, ours_signal, cfg)

    active = pd.Series(signal == side).shift(1, fill_value=False).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(
            pd.Series(bars.close),
            entries=active,
            exits=~active,
            price=pd.Series(bars.open),
            size=costs["fraction"],
            size_type="percent",
            fees=costs["fees"],
            slippage=costs["slippage_bps"] / 1e4,
            size_granularity=1,
            init_cash=100_000.0,
            direction=direction,
            freq="1D",
        )
        records = pf.trades.records
        final = float(pf.final_value())

    assert len(ours.trades) == len(records) > 0
    np.testing.assert_array_equal([t.entry_bar for t in ours.trades], records["entry_idx"])
    np.testing.assert_array_equal([t.exit_bar for t in ours.trades], records["exit_idx"])
    np.testing.assert_array_equal([t.size for t in ours.trades], records["size"])
    np.testing.assert_allclose([t.pnl for t in ours.trades], records["pnl"], rtol=1e-6, atol=1e-6)
    assert ours.metrics.equity_final == pytest.approx(final, rel=1e-6)
    np.testing.assert_allclose(ours.equity, pf.value().to_numpy(), rtol=1e-6)

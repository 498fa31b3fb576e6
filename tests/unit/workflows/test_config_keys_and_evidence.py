"""What may be proposed (keys, values, the hard caps), how a version feeds a cycle, and
the evidence numbers (walk-forward backtest on the shipped bars, simulated folds)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pytest

from adapters.marketdata.files import FileMarketData
from config.settings import load_settings
from core.proposals import ProposalRefusal, ProposalRefusedError
from core.risk import HARD_CAPS, RiskLimits
from tests.conftest import DATA_DIR
from workflows.config_keys import cycle_inputs, settings_values, validate_changes
from workflows.proposal_evidence import (
    EvidenceSettings,
    SimRun,
    backtest_evidence,
    deflated,
    simulation_evidence,
)

SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG")


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return settings_values(load_settings())


@pytest.mark.parametrize(
    ("changes", "code", "needle"),
    [
        ({"risk.max_position_pct": 0.5}, ProposalRefusal.LOOSENS_HARD_CAP,
         "key=risk.max_position_pct value=0.5 cap=0.30 (the 30 % hard cap)"),
        ({"risk.max_drawdown": "0.06"}, ProposalRefusal.LOOSENS_HARD_CAP, "cap=0.05 (the 5 %"),
        ({"risk.max_open_positions": 51}, ProposalRefusal.LOOSENS_HARD_CAP, "cap=50 (the hard"),
        ({"risk.max_drawdown": -0.01}, ProposalRefusal.INVALID_VALUE, "key=risk.max_drawdown"),
        ({"risk.max_open_positions": "2.5"}, ProposalRefusal.INVALID_VALUE, "rule="),
        ({"strategy.ma_crossover.slow": 5}, ProposalRefusal.INVALID_VALUE, "must be < slow"),
        ({"strategy.momentum.lookback": 0}, ProposalRefusal.INVALID_VALUE, "between 1 and 500"),
        ({"strategy.breakout.period": 10}, ProposalRefusal.UNKNOWN_KEY, "key=strategy.breakout"),
        ({"universe.symbols": ""}, ProposalRefusal.INVALID_VALUE, "rule=not empty"),
        ({"universe.symbols": "AAPL,aapl"}, ProposalRefusal.INVALID_VALUE, "appears twice"),
        ({"universe.symbols": "AAPL,TSLA"}, ProposalRefusal.INVALID_VALUE, "value=TSLA"),
        ({"llm.debate_rounds": 11}, ProposalRefusal.INVALID_VALUE, "key=llm.debate_rounds"),
        ({"agents.research_manager.min_conviction": 2}, ProposalRefusal.INVALID_VALUE, "rule="),
        ({"agents.nobody.x": 1}, ProposalRefusal.UNKNOWN_KEY, "known=risk.<limit>"),
        ({"risk.max_position_pct": 0.2, "risk.max_position_weight": 0.2},
         ProposalRefusal.INVALID_VALUE, "given twice"),
        ({"risk.max_position_weight": "0.30"}, ProposalRefusal.NO_CHANGE, "already the values"),
        ({}, ProposalRefusal.INVALID_VALUE, "changes=<none>"),
    ],
)  # fmt: skip
def test_validate_when_rule_broken_then_refused_with_code_and_context(
    current: dict[str, Any], changes: dict[str, Any], code: ProposalRefusal, needle: str
) -> None:
    with pytest.raises(ProposalRefusedError) as err:
        validate_changes(changes, current, SYMBOLS)
    assert err.value.code is code
    assert needle in str(err.value)


def test_validate_when_tightening_or_loosening_within_the_caps_then_parsed_canonical(
    current: dict[str, Any],
) -> None:
    changes = {"risk.max_position_pct": "0.25", "risk.daily_loss_limit": "0.03",
               "universe.symbols": "aapl, msft", "strategy.ma_crossover.ma_type": "EMA",
               "risk.flatten_on_halt": "true", "risk.max_drawdown": 0.05}  # fmt: skip
    assert validate_changes(changes, current, SYMBOLS) == {
        "risk.max_position_weight": 0.25,
        "risk.daily_loss_limit": 0.03,  # looser than 2 %, within the 5 % cap
        "universe.symbols": ["AAPL", "MSFT"],
        "strategy.ma_crossover.ma_type": "ema",
        "risk.flatten_on_halt": True,
    }  # the unchanged max_drawdown is dropped


def test_settings_values_when_defaults_then_every_cap_respected_and_cycle_inputs_match(
    current: dict[str, Any],
) -> None:
    limits = RiskLimits(**{k[5:]: v for k, v in current.items() if k.startswith("risk.")})
    assert limits.loosened_beyond(HARD_CAPS) == []
    inputs = cycle_inputs({**current, "strategy.momentum.lookback": 40, "llm.debate_rounds": 1})
    assert inputs.limits == limits and inputs.debate_rounds == 1
    assert inputs.symbols == list(SYMBOLS) and inputs.restricted == frozenset()
    assert inputs.agent_settings["strategies"]["momentum"] == {"lookback": 40, "threshold": 0.0}
    assert inputs.agent_settings["agents"]["research_manager"]["min_conviction"] == 0.2


def test_backtest_evidence_when_strategy_change_then_anchored_oos_folds_on_shipped_bars(
    current: dict[str, Any],
) -> None:
    proposed = {**current, "strategy.ma_crossover.fast": 20, "strategy.ma_crossover.slow": 50}
    knobs = EvidenceSettings(backtest_folds=3, backtest_fold_bars=126)
    market = FileMarketData(DATA_DIR / "us_daily")
    changed = ["strategy.ma_crossover.fast", "strategy.ma_crossover.slow"]
    ev = backtest_evidence(current, proposed, "ma_crossover", changed, market, knobs, lambda k: [])
    folds = ev["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3] and folds[-1]["end"] == "2013-03-01"
    for a, b in itertools.pairwise(folds):
        assert a["end"] < b["start"]  # consecutive, out of sample
        assert b["train"].split(" .. ")[1] < b["start"]  # trained on bars before it
    assert folds[0]["current"] != folds[0]["proposed"]
    assert ev["overall"]["current"]["trades"] == sum(f["current"]["trades"] for f in folds)
    dsr = ev["deflated_sharpe"]
    assert dsr["trials"] == 2 and 0.0 <= dsr["value"] <= 1.0
    assert ev["trial_key"] == "backtest.ma_crossover:" + ",".join(changed)
    more = backtest_evidence(
        current, proposed, "ma_crossover", changed, market, knobs, lambda k: [0.3, -0.2, 0.25]
    )
    assert more["deflated_sharpe"]["trials"] == 5
    assert more["deflated_sharpe"]["value"] < dsr["value"]  # more variants tried: deflated


async def test_simulation_evidence_when_runs_given_then_folds_from_their_equity() -> None:
    runs = {True: SimRun([101_000.0, 102_010.0, 100_990.0, 103_000.0], [2, 0, 1, 1]),
            False: SimRun([100_000.0, 100_500.0, 100_000.0, 100_200.0], [1, 1, 0, 0])}  # fmt: skip
    calls: list[Any] = []

    async def simulator(values: dict[str, Any], sessions: Sequence[date]) -> SimRun:
        calls.append(values["risk.max_open_positions"])
        return runs[values["risk.max_open_positions"] == 10]

    sessions = [date(2013, 2, d) for d in (25, 26, 27, 28)]
    knobs = EvidenceSettings(folds=2, starting_cash=100_000.0)
    ev = await simulation_evidence({"risk.max_open_positions": 10}, {"risk.max_open_positions": 5},
                                   ["risk.max_open_positions"], sessions, simulator, knobs,
                                   lambda k: [])  # fmt: skip
    assert calls == [10, 5]
    first, second = ev["folds"]
    assert (first["start"], first["end"], second["start"]) == (
        "2013-02-25",
        "2013-02-26",
        "2013-02-27",
    )
    assert first["current"]["return"] == pytest.approx(0.0201)  # 100k → 102,010
    assert second["current"]["return"] == pytest.approx(103_000 / 102_010 - 1, abs=1e-6)
    assert first["current"]["trades"] == 2 and second["proposed"]["trades"] == 0
    assert ev["overall"]["current"]["return"] == pytest.approx(0.03)
    assert ev["overall"]["proposed"]["max_drawdown"] == pytest.approx(500 / 100_500, abs=1e-6)
    assert ev["sessions"] == 4 and ev["deflated_sharpe"]["n_obs"] == 4


def test_deflated_when_other_trials_undefined_then_the_psr_against_zero() -> None:
    from tools.research.stats import probabilistic_sharpe, return_moments

    returns = np.random.default_rng(7).normal(0.001, 0.01, 500)
    m = return_moments(returns)
    one = deflated(returns, float("nan"), [])  # the current config never traded: no Sharpe
    assert one["trials"] == 2 and one["trials_sharpe_variance"] == 0.0
    psr = probabilistic_sharpe(m.sharpe, 0.0, m.n_obs, m.skew, m.kurtosis)
    assert one["value"] == pytest.approx(psr, abs=1e-6)
    spread = deflated(returns, -0.1, [0.2, 0.05])
    assert spread["trials"] == 4 and spread["value"] < one["value"]

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from adapters.marketdata.files import FileMarketData
from agents.data import fundamentals, market_data, market_regime, news_sentiment
from core.messages import Assessment, BarsPublished, Note, ToolFigures
from tests.conftest import DATA_DIR
from tests.unit.agents.conftest import DAY, MakeContext
from tools.indicators import sma


def test_market_data_when_all_bars_present_then_publishes_adjusted_last_closes(
    make_ctx: MakeContext, market: FileMarketData
) -> None:
    [published] = market_data.run(make_ctx(), [])
    assert isinstance(published.payload, BarsPublished)
    assert set(published.payload.symbols) == {"AAPL", "MSFT", "IBM", "GOOG"}
    assert published.payload.source == "primary" and published.payload.as_of.date() == DAY
    expected = market.bars("AAPL", end=DAY).last_close
    assert published.payload.last_close["AAPL"] == pytest.approx(expected)


def test_market_data_when_symbol_unknown_then_data_problem_note(make_ctx: MakeContext) -> None:
    out = market_data.run(make_ctx(universe=("AAPL", "NOPE")), [])
    assert out[0].payload.symbols == ("AAPL",)
    note = out[-1].payload
    assert isinstance(note, Note) and note.topic == "data_problem" and "NOPE" in note.data["symbols"]


def test_market_data_when_last_bar_too_old_then_not_published(make_ctx: MakeContext) -> None:
    out = market_data.run(make_ctx(as_of=date(2013, 4, 1)), [])  # data ends 2013-03-01
    assert [m.kind for m in out] == ["note"]
    assert "days old" in out[0].payload.data["symbols"]["AAPL"][0]


def test_market_data_when_primary_lacks_symbol_then_fails_over_to_fallback(
    make_ctx: MakeContext, tmp_path
) -> None:
    import shutil

    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(DATA_DIR / "us_daily" / "AAPL.csv.gz", partial)
    ctx = make_ctx(
        market=FileMarketData(partial),
        universe=("AAPL", "IBM"),
        settings={"market_fallbacks": [FileMarketData(DATA_DIR / "us_daily")]},
    )
    out = market_data.run(ctx, [])
    sources = {m.payload.source: m.payload.symbols for m in out}
    assert sources == {"primary": ("AAPL",), "fallback1:FileMarketData": ("IBM",)}


def test_fundamentals_when_as_of_before_a_report_then_the_earlier_one_is_used(
    make_ctx: MakeContext,
) -> None:
    out = fundamentals.run(make_ctx(as_of=date(2012, 12, 3), universe=("IBM",)), [])
    figures, view = out[0].payload, out[1].payload
    assert isinstance(figures, ToolFigures) and figures.figures["pe_ratio"] == 13.4  # 2012-01-19
    assert isinstance(view, Assessment) and -1 <= view.score <= 1 and out[1].causation_id == out[0].id


def test_fundamentals_when_symbol_has_no_entry_then_nothing(make_ctx: MakeContext) -> None:
    assert fundamentals.run(make_ctx(as_of=date(2005, 1, 3), universe=("AAPL",)), []) == []


def test_news_when_as_of_precedes_a_headline_then_it_is_not_seen(make_ctx: MakeContext) -> None:
    before = news_sentiment.run(make_ctx(as_of=date(2013, 1, 23)), [])
    after = news_sentiment.run(make_ctx(as_of=date(2013, 1, 24)), [])
    symbols = lambda out: {m.payload.symbol for m in out}  # noqa: E731
    assert "AAPL" not in symbols(before) and "AAPL" in symbols(after)  # AAPL news on 01-24
    aapl = next(m.payload for m in after if m.payload.symbol == "AAPL")
    assert aapl.score < 0 and aapl.text.startswith("[offline]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("shares rise on strong demand", 1.0), ("profit misses, shares fall", -1.0), ("steady", 0.0)],
)
def test_lexicon_score_when_words_match_then_signed_share(text: str, expected: float) -> None:
    assert news_sentiment.lexicon_score(text) == expected


def test_market_regime_when_history_is_long_then_kernel_figures_and_score(
    make_ctx: MakeContext, market: FileMarketData
) -> None:
    figures_env, view_env = market_regime.run(make_ctx(), [])
    figures = figures_env.payload.figures
    assert figures["symbols_measured"] == 4 and 0 <= figures["breadth_above_sma200"] <= 1
    closes = [market.bars(s, end=DAY).close for s in ("AAPL", "MSFT", "IBM", "GOOG")]
    above = np.mean([c[-1] > sma(c, 200)[-1] for c in closes])
    assert figures["breadth_above_sma200"] == pytest.approx(above)
    assert view_env.payload.score == pytest.approx(figures["trend_score"])


def test_market_regime_when_history_too_short_then_nothing(make_ctx: MakeContext) -> None:
    assert market_regime.run(make_ctx(as_of=date(2000, 6, 1)), []) == []

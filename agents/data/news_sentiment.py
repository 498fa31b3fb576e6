"""news_sentiment: recent headlines → a sentiment score per symbol.

News text is untrusted. Offline, a fixed word lexicon scores each headline
(``(positive - negative) / (positive + negative)``) and the symbol's score is their mean.
With a reasoner, the headlines go to the LLM only inside ``<untrusted>`` delimiters and
its answer is validated by ``agents.llm_judgement`` (schema, ticker, cited figures); a
refused answer is journaled and the lexicon score is used instead.

Headlines come from a shipped SAMPLE file (``fixtures/news.sample.jsonl``, synthetic,
labelled as such) or ``ctx.settings["news_file"]``: there is no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import setting
from agents.llm_judgement import LlmOutput, judge, load_prompt, prompt_file, untrusted_block
from core.messages import Assessment, Envelope

NAME = "news_sentiment"
SAMPLE_FILE = Path(__file__).resolve().parent / "fixtures" / "news.sample.jsonl"

POSITIVE = frozenset(
    "rise rises rising gain gains beat beats strong stronger record surge surges rally rallies "
    "upgrade upgrades welcome welcomes improve improves improved recover recovers raise raises "
    "favourable favorable praise praises win wins growth upbeat higher grows".split()
)
NEGATIVE = frozenset(
    "fall falls falling slump slumps decline declines miss misses weak weaker weaken weakens "
    "plunge plunges disappoint disappoints cut cuts drop drops tumble tumbles slip slips "
    "sell-off worries worry departure cautious lawsuit probe downgrade downgrades loss".split()
)


@dataclass(frozen=True)
class Headline:
    day: date
    symbol: str
    text: str


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[Headline, ...]:
    rows: list[Headline] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if "headline" in item:
            rows.append(Headline(date.fromisoformat(item["date"]), item["symbol"], item["headline"]))
    return tuple(rows)


def recent(headlines: Sequence[Headline], symbol: str, as_of: date, days: int) -> list[Headline]:
    """Headlines of ``symbol`` dated within ``days`` before ``as_of`` (never after)."""
    lo = as_of - timedelta(days=days)
    return [h for h in headlines if h.symbol == symbol and lo <= h.day <= as_of]


def lexicon_score(text: str) -> float:
    words = re.findall(r"[a-z][a-z\-]*", text.lower())
    pos = sum(w in POSITIVE for w in words)
    neg = sum(w in NEGATIVE for w in words)
    return 0.0 if pos + neg == 0 else (pos - neg) / (pos + neg)


class SentimentJudgement(LlmOutput):
    symbol: str
    sentiment: float = Field(ge=-1.0, le=1.0)
    conviction: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=800)


def offline_judgement(symbol: str, items: Sequence[Headline]) -> SentimentJudgement:
    scores = [lexicon_score(h.text) for h in items]
    mean = sum(scores) / len(scores) if scores else 0.0
    agreeing = sum(1 for s in scores if s != 0 and (s > 0) == (mean > 0))
    conviction = 0.0 if not scores else min(1.0, agreeing / len(scores) * min(1.0, len(scores) / 3))
    tone = "positive" if mean > 0.1 else "negative" if mean < -0.1 else "mixed"
    return SentimentJudgement(
        symbol=symbol,
        sentiment=max(-1.0, min(1.0, mean)),
        conviction=conviction,
        rationale=f"lexicon reading of recent headlines: {tone}",
        cited={},
    )


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    path = Path(setting(ctx, NAME, "news_file", SAMPLE_FILE))
    window = int(setting(ctx, NAME, "news_window_days", 7))
    llm_max = int(setting(ctx, NAME, "llm_max_symbols", 5))
    table = _load(path)
    per_symbol = {s: recent(table, s, ctx.as_of, window) for s in ctx.universe}
    with_news = sorted((s for s, h in per_symbol.items() if h), key=lambda s: (-len(per_symbol[s]), s))
    prompt = load_prompt(prompt_file(__file__, NAME))
    out: list[Envelope] = []
    for rank, symbol in enumerate(with_news):
        items = per_symbol[symbol]
        lexicon = sum(lexicon_score(h.text) for h in items) / len(items)
        facts = {f"{symbol}.headline_count": float(len(items)), f"{symbol}.lexicon_score": lexicon}
        def offline(symbol: str = symbol, items: list[Headline] = items) -> SentimentJudgement:
            return offline_judgement(symbol, items)

        judgement, source, usage = offline(), "offline", None
        if rank < llm_max:  # LLM calls are bounded: the symbols with the most news only
            blocks = "\n".join(untrusted_block(f"news:{h.day.isoformat()}", h.text) for h in items)
            result = judge(
                ctx,
                agent=NAME,
                prompt=prompt,
                variables={"symbol": symbol, "as_of": ctx.as_of.isoformat(), "headlines": blocks},
                schema=SentimentJudgement,
                facts=facts,
                offline=offline,
                symbols=[symbol],
            )
            judgement, source, usage = result.output, result.source, result.usage
            out += result.messages
        out.append(
            ctx.message(
                NAME,
                Assessment(
                    topic="sentiment",
                    symbol=symbol,
                    score=judgement.sentiment,
                    text=f"[{source}] {judgement.rationale}",
                    figures={
                        "headline_count": float(len(items)),
                        "lexicon_score": lexicon,
                        "conviction": judgement.conviction,
                    },
                ),
                llm=usage,
            )
        )
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.DATA,
    consumes=(),
    produces=("assessment", "rejection", "note"),
    reasoning=Reasoning.LLM,
    run=run,
    description="headlines → sentiment score; news text is untrusted (LLM / lexicon offline)",
)

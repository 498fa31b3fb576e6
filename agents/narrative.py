"""The output schema of LLM narratives (market regime story, portfolio manager's note):
a stance, a conviction and prose. The numbers stay in the tools' figures."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agents.llm_judgement import LlmOutput


class NarrativeJudgement(LlmOutput):
    stance: Literal["risk_on", "risk_off", "neutral"]
    conviction: float = Field(ge=0.0, le=1.0)
    narrative: str = Field(min_length=1, max_length=1200)

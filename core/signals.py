"""What strategies and researchers say: signals and trade ideas. Never a quantity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Direction(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


class Signal(BaseModel):
    """A strategy kernel's reading for one symbol on one bar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    strategy: str
    direction: Direction
    strength: float = Field(ge=-1.0, le=1.0)
    as_of: datetime
    figures: dict[str, float] = Field(default_factory=dict)


class TradeIdea(BaseModel):
    """The research desk's judgement: what and why. Sizing is the risk desk's job, so
    ``extra="forbid"`` makes a quantity or price impossible to smuggle in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    direction: Direction
    conviction: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=4000)
    sources: tuple[str, ...] = ()
    lessons: tuple[str, ...] = ()  # ids of the reflection lessons that informed it

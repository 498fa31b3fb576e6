"""The one path from an agent to an LLM and back: prompt → ``Reasoner`` → validated output.

Every LLM-backed agent calls ``judge``. It builds a ``ReasonRequest`` from the agent's
versioned prompt file, asks ``ctx.reasoner`` (``None`` or ``"offline"`` → the agent's
offline judgement directly), parses the answer as JSON into the agent's pydantic schema
and validates it against the tools' figures:

1. the answer is one JSON object (``malformed_json``);
2. no key anywhere names a quantity, price, size or limit (``forbidden_key``) — the LLM
   gives direction, conviction and rationale only;
3. it fits the schema (``schema``);
4. every ticker it names is in the cycle's universe and among those it was asked about
   (``unknown_ticker``);
5. every figure in ``cited`` is one the prompt showed it (``unknown_figure``) and equals
   the tool's value within tolerance (``figure_mismatch``);
6. every decimal number in its free text is one of those figures (``uncited_number``).

A refused answer yields a ``rejection`` envelope (``LLM_OUTPUT_REJECTED`` with the reason)
for the journal and the offline judgement — never a silent HOLD. A budget refusal or an
unavailable backend yields a ``note`` (topic ``llm_fallback``) and the offline judgement.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.base import AgentContext
from core.errors import BudgetExhaustedError, TemporaryError
from core.messages import Envelope, LlmUsage, Note, Rejection
from core.ports import ReasonRequest
from core.risk import Denial, DenialCode

REL_TOLERANCE = 0.005  # a cited figure may be rounded by half a percent …
ABS_TOLERANCE = 0.011  # … or to two decimals, whichever is looser
MAX_UNTRUSTED_CHARS = 2000

# Key words that make a key a sizing, pricing or limit instruction. Keys are split on
# "_", "-", "." and camelCase before matching, so "limitPrice" and "stop_loss" are caught.
FORBIDDEN_KEY_WORDS = frozenset(
    {
        "quantity", "qty", "shares", "size", "sizing", "notional", "amount", "lots",
        "price", "limit", "limits", "stop", "target", "leverage", "weight", "allocation",
        "exposure", "budget", "order", "orders",
    }
)  # fmt: skip

RejectReason = Literal[
    "malformed_json",
    "forbidden_key",
    "schema",
    "unknown_ticker",
    "unknown_figure",
    "figure_mismatch",
    "uncited_number",
]


class LlmOutput(BaseModel):
    """Base of every LLM output schema. ``cited`` holds each figure the answer relies on,
    keyed as shown in the prompt (``"AAPL.close"``, ``"AAPL.rsi_14"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cited: dict[str, float] = Field(default_factory=dict)

    def tickers(self) -> set[str]:
        """Tickers the answer names: ``symbol``/``symbols`` fields, recursively."""
        found: set[str] = set()
        _collect_tickers(self.model_dump(exclude={"cited"}), found)
        return found

    def free_texts(self) -> list[str]:
        """Prose fields whose numbers must be cited figures."""
        texts: list[str] = []
        _collect_texts(self.model_dump(exclude={"cited"}), texts)
        return texts


def _collect_tickers(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("symbol", "ticker") and isinstance(item, str):
                found.add(item)
            elif key in ("symbols", "tickers") and isinstance(item, list | tuple):
                found.update(str(s) for s in item)
            else:
                _collect_tickers(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_tickers(item, found)


TEXT_KEYS = frozenset({"rationale", "text", "summary", "narrative", "argument", "lesson", "note"})


def _collect_texts(value: Any, texts: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TEXT_KEYS and isinstance(item, str):
                texts.append(item)
            else:
                _collect_texts(item, texts)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_texts(item, texts)


# -- prompts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A versioned prompt file: ``# system`` and ``# user`` sections; ``{{name}}`` slots."""

    prompt_id: str
    system: str
    user: str

    def render(self, variables: Mapping[str, str]) -> str:
        # One pass: substituted text is never scanned again, so braces inside news or
        # figures cannot create new slots.
        def slot(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise KeyError(f"prompt {self.prompt_id}: no value for {{{{{name}}}}}")
            return variables[name]

        return re.sub(r"\{\{(\w+)\}\}", slot, self.user)


@lru_cache(maxsize=64)
def load_prompt(path: Path) -> Prompt:
    """Read ``<agent>.v<N>.md``: the prompt id is the file name without ``.md``."""
    text = path.read_text(encoding="utf-8")
    sections = re.split(r"^# (system|user)\s*$", text, flags=re.MULTILINE)
    parts = {sections[i]: sections[i + 1].strip() for i in range(1, len(sections) - 1, 2)}
    if set(parts) != {"system", "user"}:
        raise ValueError(f"{path}: a prompt file needs '# system' and '# user' sections")
    return Prompt(
        prompt_id=path.name.removesuffix(".md"), system=parts["system"], user=parts["user"]
    )


def prompt_file(module_file: str, agent: str, version: int = 1) -> Path:
    """The prompt of ``agent`` kept beside its module: ``prompts/<agent>.v<N>.md``."""
    return Path(module_file).resolve().parent / "prompts" / f"{agent}.v{version}.md"


_DELIMITER = re.compile(r"</?\s*untrusted[^>]*>", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def untrusted_block(label: str, text: str) -> str:
    """Wrap outside text (news) as data. Delimiter look-alikes inside it are removed so it
    cannot close its own block; control characters are dropped; length is capped."""
    clean = _CONTROL.sub(" ", _DELIMITER.sub("", text))[:MAX_UNTRUSTED_CHARS]
    return f'<untrusted source="{label}">\n{clean}\n</untrusted>'


def figures_block(facts: Mapping[str, float]) -> str:
    return "\n".join(f"{key} = {_fmt(value)}" for key, value in sorted(facts.items()))


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6g}" if abs(value) < 1e6 else f"{value:.2f}"


SCHEMA_INSTRUCTIONS = (
    "\n\nAnswer with ONE JSON object and nothing else, matching this JSON schema:\n{schema}\n"
    "Put every figure you rely on in `cited`, keyed exactly as listed under FIGURES, with "
    "its value. Do not write numbers in your prose. Never state a quantity, a price level, "
    "a position size or a limit: the tools decide those."
)


# -- validation ---------------------------------------------------------------------------


class OutputRejected(Exception):  # noqa: N818 — a verdict, not a failure of ours
    def __init__(self, reason: RejectReason, detail: str, **context: str | int | float) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail
        self.context = context


T = TypeVar("T", bound=LlmOutput)


def parse_json_object(text: str) -> dict[str, Any]:
    """The one JSON object in ``text`` (a ```json fence is allowed around it)."""
    body = text.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)
    if fence:
        body = fence.group(1)
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise OutputRejected("malformed_json", f"not JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(parsed, dict):
        raise OutputRejected("malformed_json", f"expected an object, got {type(parsed).__name__}")
    return parsed


def _key_words(key: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return {w for w in re.split(r"[_\-.\s]+", spaced.lower()) if w}


def forbidden_keys(value: Any, path: str = "") -> list[str]:
    """Paths of keys that name a quantity, price, size or limit (``cited`` keys excepted:
    they are checked against the tools' figures instead)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "cited" and not path:
                continue
            if _key_words(str(key)) & FORBIDDEN_KEY_WORDS:
                found.append(where)
            found.extend(forbidden_keys(item, where))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(forbidden_keys(item, f"{path}[{i}]"))
    return found


def close_enough(cited: float, actual: float) -> bool:
    if not (math.isfinite(cited) and math.isfinite(actual)):
        return False
    return abs(cited - actual) <= max(REL_TOLERANCE * abs(actual), ABS_TOLERANCE)


_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?%?")
MAX_PLAIN_INTEGER = 400  # periods and counts ("RSI 14", "200-day") may be written freely


def _number_allowed(token: str, known: list[float]) -> bool:
    """A number in prose must be a known figure (a percentage may show a fraction ×100);
    small plain integers (periods, counts) and years are allowed."""
    percent = token.endswith("%")
    plain = token.rstrip("%").replace(",", "")
    value = float(plain)
    if percent:
        return any(close_enough(value, k) or close_enough(value, 100.0 * k) for k in known)
    if any(close_enough(value, k) for k in known):
        return True
    is_integer = "." not in plain
    return is_integer and (abs(value) <= MAX_PLAIN_INTEGER or 1900 <= value <= 2100)


def validate_output(
    text: str,
    schema: type[T],
    *,
    universe: Iterable[str],
    facts: Mapping[str, float],
    symbols: Iterable[str] | None = None,
) -> T:
    """Parse and check one answer; raises ``OutputRejected`` with the first problem."""
    raw = parse_json_object(text)
    bad = forbidden_keys(raw)
    if bad:
        raise OutputRejected(
            "forbidden_key", f"keys not allowed: {', '.join(bad)}", keys=",".join(bad)
        )
    try:
        output = schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OutputRejected("schema", f"{where}: {first['msg']}", field=where) from exc
    allowed = set(universe) if symbols is None else set(universe) & set(symbols)
    unknown = sorted(output.tickers() - allowed)
    fact_prefixes = {key.split(".", 1)[0] for key in facts}
    cited_tickers = {key.split(".", 1)[0] for key in output.cited if "." in key}
    unknown += sorted(cited_tickers - allowed - fact_prefixes - set(unknown))
    if unknown:
        # name what was allowed: a universe ticker the request did not ask about is refused
        # too, and "not in universe" alone would contradict the universe file
        scope = "universe" if symbols is None else "this request's symbols"
        raise OutputRejected(
            "unknown_ticker",
            f"not in {scope} ({', '.join(sorted(allowed))}): {', '.join(unknown)}",
            tickers=",".join(unknown),
        )
    for key, value in output.cited.items():
        if key not in facts:
            raise OutputRejected("unknown_figure", f"{key} is not a tool figure", figure=key)
        if not close_enough(value, facts[key]):
            raise OutputRejected(
                "figure_mismatch",
                f"{key}={value:g} but the tool says {facts[key]:g}",
                figure=key,
                cited=float(value),
                actual=float(facts[key]),
            )
    known = [*facts.values(), *output.cited.values()]
    for prose in output.free_texts():
        for token in _NUMBER.findall(prose):
            if not _number_allowed(token, known):
                raise OutputRejected(
                    "uncited_number", f"{token} in the text is not a tool figure", number=token
                )
    return output


# -- the call -----------------------------------------------------------------------------


@dataclass
class Judgement(Generic[T]):
    """What ``judge`` returns: the output (LLM or offline), where it came from, the usage
    to put on the agent's envelope, and messages to journal (rejections, fallbacks)."""

    output: T
    source: Literal["llm", "offline"]
    usage: LlmUsage | None = None
    messages: list[Envelope] = field(default_factory=list)
    reason: str | None = None


def constant(value: T) -> Callable[[], T]:
    """An offline judgement already computed."""
    return lambda: value


def is_offline(ctx: AgentContext) -> bool:
    return ctx.reasoner is None or ctx.reasoner.name == "offline"


def _record_fallback(ctx: AgentContext, agent: str, reason: str) -> None:
    record = getattr(ctx.reasoner, "record_fallback", None)
    if callable(record):
        record(agent, reason)


def judge(
    ctx: AgentContext,
    *,
    agent: str,
    prompt: Prompt,
    variables: Mapping[str, str],
    schema: type[T],
    facts: Mapping[str, float],
    offline: Callable[[], T],
    symbols: Iterable[str] | None = None,
    causation_id: str | None = None,
) -> Judgement[T]:
    """Ask the reasoner for ``schema`` or fall back to ``offline()``; see module doc."""
    if is_offline(ctx):
        return Judgement(output=offline(), source="offline")
    facts = {k: float(v) for k, v in facts.items() if math.isfinite(v)}
    assert ctx.reasoner is not None
    begin = getattr(ctx.reasoner, "begin_cycle", None)
    if callable(begin):
        begin(ctx.cycle_id)
    schema_json = schema.model_json_schema()
    request = ReasonRequest(
        agent=agent,
        prompt_id=prompt.prompt_id,
        system=prompt.system + SCHEMA_INSTRUCTIONS.format(schema=json.dumps(schema_json)),
        user=prompt.render({**variables, "figures": figures_block(facts)}),
        output_schema=schema_json,
    )
    try:
        response = ctx.reasoner.complete(request)
    except (BudgetExhaustedError, TemporaryError) as exc:
        reason = (
            "budget_exhausted" if isinstance(exc, BudgetExhaustedError) else "reasoner_unavailable"
        )
        _record_fallback(ctx, agent, reason)
        note = ctx.message(
            agent,
            Note(
                topic="llm_fallback",
                data={
                    "agent": agent,
                    "reason": reason,
                    "detail": str(exc),
                    "prompt_id": prompt.prompt_id,
                },
            ),
            causation_id=causation_id,
        )
        return Judgement(output=offline(), source="offline", messages=[note], reason=reason)
    usage = LlmUsage(
        model=response.model,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cost_usd=0.0 if response.cached else response.cost_usd,
    )
    try:
        output = validate_output(
            response.text, schema, universe=ctx.universe, facts=facts, symbols=symbols
        )
    except OutputRejected as rejected:
        _record_fallback(ctx, agent, f"rejected:{rejected.reason}")
        context: dict[str, str | int | float] = {
            "agent": agent,
            "reason": rejected.reason,
            **rejected.context,
        }
        rejection = ctx.message(
            agent,
            Rejection(
                source=agent,
                denial=Denial(code=DenialCode.LLM_OUTPUT_REJECTED, context=context),
                detail=f"{prompt.prompt_id}: {rejected.detail}; offline judgement used",
            ),
            causation_id=causation_id,
            llm=usage,
        )
        return Judgement(
            output=offline(), source="offline", messages=[rejection], reason=rejected.reason
        )
    return Judgement(output=output, source="llm", usage=usage)

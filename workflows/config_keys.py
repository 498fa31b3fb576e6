"""The settings a change proposal may touch: their keys, parsing, validation, and how a
configuration version becomes a cycle's inputs.

Keys are dotted:

- ``risk.<limit>``: every field of ``core.risk.RiskLimits`` (``risk.max_position_pct`` is an
  alias of ``risk.max_position_weight``, the operators' name for it);
- ``strategy.<name>.<param>``: the parameters of the three strategy agents' kernels
  (``tools.strategies.STRATEGIES``: ma_crossover, momentum, mean_reversion);
- ``universe.symbols``, ``universe.restricted``;
- ``llm.debate_rounds`` and ``agents.<agent>.<param>`` (``agents.tunables.TUNABLE``).

Bounds are never restated here: a value is checked by the model that owns it (the
``RiskLimits`` / ``LlmSettings`` / agent-parameter field, the strategy's ``ParamSpec``), and
a risk limit that would be looser than ``core.risk.HARD_CAPS`` is found by
``RiskLimits.loosened_beyond`` — the rule settings validation enforces too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from agents.tunables import TUNABLE
from core.errors import ConfigurationError
from core.proposals import ProposalRefusal, ProposalRefusedError
from core.risk import HARD_CAPS, RiskLimits

if TYPE_CHECKING:
    from config.settings import Settings

ALIASES = {"risk.max_position_pct": "risk.max_position_weight"}
STRATEGY_AGENTS = ("ma_crossover", "momentum", "mean_reversion")
# Limits that are fractions of equity (or of a price): their cap is also shown in percent.
FRACTION_LIMITS = frozenset(
    {"max_drawdown", "max_position_weight", "daily_loss_limit", "fat_finger_band"}
)
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,14}$")
LIST_KEYS = ("universe.symbols", "universe.restricted")


def canonical(key: str) -> str:
    key = key.strip()
    return ALIASES.get(key, key)


def settings_values(settings: Settings) -> dict[str, Any]:
    """Every proposable key's value: the settings' (risk, universe, debate rounds) and the
    code defaults of the strategy kernels and agent parameters."""
    from tools.strategies import STRATEGIES

    values: dict[str, Any] = {
        f"risk.{name}": getattr(settings.risk, name) for name in RiskLimits.model_fields
    }
    values["universe.symbols"] = list(settings.universe.symbols)
    values["universe.restricted"] = sorted(settings.universe.restricted)
    values["llm.debate_rounds"] = settings.llm.debate_rounds
    for strategy in STRATEGY_AGENTS:
        for param, default in STRATEGIES[strategy].defaults().items():
            values[f"strategy.{strategy}.{param}"] = default
    for agent, model in TUNABLE.items():
        for param, default in model().model_dump().items():
            values[f"agents.{agent}.{param}"] = default
    return values


def key_groups() -> str:
    return "risk.<limit>, strategy.<name>.<param>, universe.symbols, universe.restricted, " + (
        "llm.debate_rounds, agents.<agent>.<param>"
    )


def _refuse(code: ProposalRefusal, message: str) -> ProposalRefusedError:
    return ProposalRefusedError(code, message)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "<empty>"
    return str(value)


def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    if not info.metadata:  # Annotated needs at least one annotation
        return TypeAdapter(info.annotation)  # type: ignore[arg-type]
    return TypeAdapter(Annotated[info.annotation, *info.metadata])  # type: ignore[arg-type]


def _symbols(given: str, raw: Any) -> list[str]:
    items = re.split(r"[,\s]+", raw.strip()) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise _refuse(
            ProposalRefusal.INVALID_VALUE,
            f"key={given} value={raw!r} rule=a list of tickers (AAPL,MSFT)",
        )
    out = [str(s).strip().upper() for s in items if str(s).strip()]
    bad = [s for s in out if not SYMBOL.match(s)]
    if bad:
        raise _refuse(
            ProposalRefusal.INVALID_VALUE, f"key={given} value={bad[0]} rule=not a ticker"
        )
    if len(set(out)) != len(out):
        raise _refuse(ProposalRefusal.INVALID_VALUE, f"key={given} rule=a ticker appears twice")
    return out


def parse_value(key: str, raw: Any, given: str | None = None) -> Any:
    """``raw`` (a string from a command line, or a JSON value) as the type of ``key``."""
    given = given or key
    group, _, rest = key.partition(".")
    try:
        if key in LIST_KEYS:
            return _symbols(given, raw)
        if group == "risk":
            return _field_adapter(RiskLimits, rest).validate_python(raw)
        if key == "llm.debate_rounds":
            from config.settings import LlmSettings

            return _field_adapter(LlmSettings, "debate_rounds").validate_python(raw)
        if group == "agents":
            agent, _, param = rest.partition(".")
            return _field_adapter(TUNABLE[agent], param).validate_python(raw)
        if group == "strategy":
            from tools.strategies import STRATEGIES

            name, _, param = rest.partition(".")
            return STRATEGIES[name].params[param].parse(param, raw)
    except ValidationError as exc:
        rule = exc.errors()[0]["msg"]
        raise _refuse(
            ProposalRefusal.INVALID_VALUE, f"key={given} value={raw!r} rule={rule}"
        ) from None
    except ConfigurationError as exc:
        raise _refuse(ProposalRefusal.INVALID_VALUE, f"key={given} rule={exc}") from None
    except KeyError:
        pass
    raise _refuse(ProposalRefusal.UNKNOWN_KEY, f"key={given} known={key_groups()}")


def cap_text(limit: str) -> str:
    """``0.30 (the 30 % hard cap)`` for ``max_position_weight``."""
    cap = getattr(HARD_CAPS, limit)
    if limit in FRACTION_LIMITS:
        return f"{cap:.2f} (the {cap * 100:g} % hard cap)"
    return f"{cap:g} (the hard cap)"


def validate_changes(
    changes: Mapping[str, Any],
    current: Mapping[str, Any],
    known_symbols: Collection[str] | None = None,
) -> dict[str, Any]:
    """The changes as canonical key → parsed value, each one a real change of ``current``.

    Raises ``ProposalRefusedError`` naming the rule: ``UNKNOWN_KEY``, ``INVALID_VALUE``
    (bounds, types, fast < slow, unknown ticker), ``LOOSENS_HARD_CAP`` (a risk limit looser
    than ``HARD_CAPS``) or ``NO_CHANGE`` (every value is the one in force)."""
    if not changes:
        raise _refuse(ProposalRefusal.INVALID_VALUE, "changes=<none> rule=propose key=value")
    parsed: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, raw in changes.items():
        name = canonical(key)
        if name not in current:
            raise _refuse(ProposalRefusal.UNKNOWN_KEY, f"key={key} known={key_groups()}")
        if name in parsed:
            raise _refuse(
                ProposalRefusal.INVALID_VALUE, f"key={key} rule=given twice (as {given[name]})"
            )
        parsed[name], given[name] = parse_value(name, raw, key), key
    merged = {**current, **parsed}
    _check_risk(merged, parsed, given)
    _check_strategies(merged, parsed, given)
    _check_universe(merged, parsed, known_symbols)
    changed = {k: v for k, v in parsed.items() if v != current[k]}
    if not changed:
        keys = ",".join(given[k] for k in parsed)
        raise _refuse(ProposalRefusal.NO_CHANGE, f"keys={keys} rule=already the values in force")
    return changed


def _check_risk(
    merged: Mapping[str, Any], parsed: Mapping[str, Any], given: dict[str, str]
) -> None:
    limits = RiskLimits.model_construct(**{n: merged[f"risk.{n}"] for n in RiskLimits.model_fields})
    for limit in limits.loosened_beyond(HARD_CAPS):
        key = f"risk.{limit}"
        if key in parsed:
            raise _refuse(
                ProposalRefusal.LOOSENS_HARD_CAP,
                f"key={given[key]} value={_fmt(parsed[key])} cap={cap_text(limit)}",
            )


def _check_strategies(
    merged: Mapping[str, Any], parsed: Mapping[str, Any], given: dict[str, str]
) -> None:
    from tools.strategies import resolve_params

    for strategy in STRATEGY_AGENTS:
        prefix = f"strategy.{strategy}."
        touched = [k for k in parsed if k.startswith(prefix)]
        if not touched:
            continue
        params = {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)}
        try:
            resolve_params(strategy, params)
        except ConfigurationError as exc:
            keys = ",".join(given[k] for k in touched)
            raise _refuse(ProposalRefusal.INVALID_VALUE, f"key={keys} rule={exc}") from None


def _check_universe(
    merged: Mapping[str, Any], parsed: Mapping[str, Any], known: Collection[str] | None
) -> None:
    if "universe.symbols" not in parsed:
        return
    symbols = merged["universe.symbols"]
    if not symbols:
        raise _refuse(ProposalRefusal.INVALID_VALUE, "key=universe.symbols rule=not empty")
    missing = [s for s in symbols if known is not None and s not in known]
    if missing:
        raise _refuse(
            ProposalRefusal.INVALID_VALUE,
            f"key=universe.symbols value={missing[0]} rule=no bars for it in the market data",
        )


@dataclass(frozen=True)
class CycleInputs:
    """What a cycle takes from a configuration version."""

    limits: RiskLimits
    symbols: list[str]
    restricted: frozenset[str]
    debate_rounds: int
    agent_settings: dict[str, Any] = field(default_factory=dict)


def cycle_inputs(values: Mapping[str, Any]) -> CycleInputs:
    strategies: dict[str, dict[str, Any]] = {}
    agents: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        group, _, rest = key.partition(".")
        owner, _, param = rest.partition(".")
        if group == "strategy":
            strategies.setdefault(owner, {})[param] = value
        elif group == "agents":
            agents.setdefault(owner, {})[param] = value
    return CycleInputs(
        limits=RiskLimits(
            **{n: values[f"risk.{n}"] for n in RiskLimits.model_fields if f"risk.{n}" in values}
        ),
        symbols=list(values["universe.symbols"]),
        restricted=frozenset(values["universe.restricted"]),
        debate_rounds=int(values["llm.debate_rounds"]),
        agent_settings={"strategies": strategies, "agents": agents},
    )

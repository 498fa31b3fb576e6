"""Parameter grids for sweeps and walk-forward runs: ``--grid`` tokens into values per
parameter (``parse_grid``), and values into checked parameter sets (``expand_grid``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from core.errors import ConfigurationError
from tools.strategies import get_strategy, params_problem
from workflows.research_types import ParamValue

MAX_TRIALS = 10_000


def _number(text: str, token: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"--grid token {token!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"--grid token {token!r}: {text!r} is not a finite number")
    return value


def _range(item: str, token: str, integer: bool) -> list[ParamValue]:
    parts = item.split(":")
    if len(parts) > 3:
        raise ConfigurationError(f"--grid token {token!r}: a range is start:stop[:step]")
    start, stop = _number(parts[0], token), _number(parts[1], token)
    step = _number(parts[2], token) if len(parts) == 3 else 1.0
    if step <= 0:
        raise ConfigurationError(f"--grid token {token!r}: step must be > 0")
    if stop < start:
        raise ConfigurationError(f"--grid token {token!r}: stop {parts[1]} < start {parts[0]}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_TRIALS:
        raise ConfigurationError(f"--grid token {token!r}: more than {MAX_TRIALS} values")
    values = [round(start + k * step, 12) for k in range(count)]
    if integer:
        if any(v != int(v) for v in (start, step)):
            raise ConfigurationError(f"--grid token {token!r}: needs whole numbers")
        return [int(v) for v in values]
    return list(values)


def parse_grid(strategy: str, tokens: Sequence[str]) -> dict[str, list[ParamValue]]:
    """``["fast=5:50:5", "slow=20:200:10", "ma_type=sma,ema"]`` → values per parameter.

    ``a:b:s`` is an inclusive range (step 1 without ``s``), ``a,b,c`` a list (items may be
    ranges), a single value fixes the parameter. Each value is bound-checked by the
    strategy; any problem is a ``ConfigurationError`` naming the token.
    """
    spec = get_strategy(strategy)
    grid: dict[str, list[ParamValue]] = {}
    for token in (t for raw in tokens for t in raw.split()):
        name, sep, text = token.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise ConfigurationError(
                f"--grid token {token!r}: expected name=values, e.g. fast=5:50:5"
            )
        if name not in spec.params:
            raise ConfigurationError(
                f"--grid token {token!r}: {strategy} has no parameter {name!r}; "
                f"valid: {', '.join(spec.params)}"
            )
        if name in grid:
            raise ConfigurationError(f"--grid token {token!r}: {name} is given twice")
        pspec = spec.params[name]
        values: list[ParamValue] = []
        for item in (x.strip() for x in text.split(",")):
            if not item:
                raise ConfigurationError(f"--grid token {token!r}: empty value")
            if ":" in item and pspec.kind != "choice":
                raw_values = _range(item, token, pspec.kind == "int")
            else:
                raw_values = [item]
            for raw in raw_values:
                try:
                    value = pspec.parse(name, raw)
                except ConfigurationError as exc:
                    raise ConfigurationError(f"--grid token {token!r}: {exc}") from None
                if value not in values:
                    values.append(value)
        grid[name] = values
    if not grid:
        raise ConfigurationError("--grid needs at least one name=values token")
    return grid


def expand_grid(
    strategy: str, grid: Mapping[str, Sequence[ParamValue]]
) -> tuple[list[dict[str, ParamValue]], int]:
    """Every combination, resolved against the strategy's defaults, in grid order
    (the last parameter varies fastest); combinations the strategy rejects (fast >=
    slow...) are skipped and counted. ``ConfigurationError`` if none is left."""
    spec = get_strategy(strategy)
    names = list(grid)
    total = math.prod(len(v) for v in grid.values())
    if total > MAX_TRIALS:
        raise ConfigurationError(f"the grid has {total} combinations; the limit is {MAX_TRIALS}")
    sets: list[dict[str, ParamValue]] = []
    first_error = ""
    for combo in itertools.product(*(grid[n] for n in names)):
        resolved = spec.resolve(dict(zip(names, combo, strict=True)))
        problem = params_problem(strategy, resolved)
        if problem is not None:
            first_error = first_error or problem
            continue
        sets.append(resolved)
    if not sets:
        raise ConfigurationError(f"no valid parameter set in the grid: {first_error}")
    return sets, total - len(sets)

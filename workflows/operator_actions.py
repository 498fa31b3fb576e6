"""What each operator command does, once the caller is allowed to run it.

Each command has a parser (arguments → typed values, or ``CommandRefusedError`` with
BAD_ARGUMENTS: run before any one-time password is spent) and a runner (does it and
returns a view and a one-line message). State changes go through ``TradingControl``
(trading state, kill switch), the ``ProposalDesk`` / ``ConfigDesk`` ports, the injected
cycle runner, and the store (the operator's live-mode confirmation).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.audit import AuditLog
from core.notifications import CycleFailed, GuardTripped, Notifier
from core.orders import utcnow
from core.ports import Store
from core.proposals import (
    ConfigDesk,
    ProposalDesk,
    ProposalRefusal,
    ProposalRefusedError,
    ProposalStatus,
    decision_refusal,
)
from core.risk import TradingState
from workflows.control import TradingControl
from workflows.operator_commands import COMMANDS, CommandSpec
from workflows.operator_reads import (
    DEFAULT_ORDERS,
    MAX_PNL_DAYS,
    cycle_brief,
    explain_view,
    orders_view,
    pnl_view,
    positions_view,
    report_view,
    status_view,
    trading_view,
)
from workflows.operator_types import CommandRefusedError, DenialCode
from workflows.operator_views import (
    CommandRow,
    ConfigView,
    CycleRunView,
    HelpView,
    ModeView,
    ProposalsView,
    ProposalView,
    ResultView,
    WhoamiView,
)
from workflows.operators import Operator, OperatorRegistry, Platform

MODE_KEY = "operator.mode"  # the operator's live-trading confirmation (kv, with history)
DEFAULT_PNL_DAYS = 7
CycleRunner = Callable[[date | None], Awaitable[dict[str, Any]]]
Answer = tuple[ResultView, str]


class ServiceOptions(BaseModel):
    """What the service needs from the settings (``make_operator_service`` fills it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: str = "paper"
    live_confirmed: bool = False
    live_port: bool = False  # the configured broker connects to a live trading port
    snapshot_labels: tuple[str, ...] = ("paper", "book")
    starting_cash: float = 100_000.0
    reports_dir: Path = Path("var") / "reports"


@dataclass
class Deps:
    store: Store
    control: TradingControl
    registry: OperatorRegistry
    audit: AuditLog
    options: ServiceOptions
    notifier: Notifier
    cycle_runner: CycleRunner | None = None
    proposals: ProposalDesk | None = None
    config: ConfigDesk | None = None


def bad(spec: CommandSpec, detail: str) -> CommandRefusedError:
    return CommandRefusedError(DenialCode.BAD_ARGUMENTS, f"command={spec.name} {detail}")


def _int(spec: CommandSpec, name: str, text: str, lo: int = 1, hi: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad(spec, f"{name}={text!r} rule=a whole number") from None
    if value < lo or (hi is not None and value > hi):
        rule = f"{lo}..{hi}" if hi is not None else f">={lo}"
        raise bad(spec, f"{name}={value} rule={rule}")
    return value


def _reason(args: list[str]) -> str:
    if args and args[0] in ("--reason", "-r"):
        args = args[1:]
    return " ".join(args).strip()


def _value(text: str) -> Any:
    """A proposal value: JSON when it parses (0.25, true, ["A"]), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- parsers: args → typed input (raise BAD_ARGUMENTS) ----------------------------------
def parse_args(spec: CommandSpec, args: list[str]) -> Any:
    name = spec.name
    if name in ("halt", "reduce", "kill", "resume", "release", "mode live", "mode paper"):
        reason = _reason(args)
        if spec.min_args and not reason:
            raise bad(spec, "reason=<empty> rule=say why (kept in the audit)")
        return reason
    if name == "pnl":
        return _int(spec, "days", args[0], 1, MAX_PNL_DAYS) if args else DEFAULT_PNL_DAYS
    if name == "orders":
        scope = "open"
        limit = DEFAULT_ORDERS
        for arg in args:
            if arg.lower() in ("all", "open"):
                scope = arg.lower()
            else:
                limit = _int(spec, "n", arg, 1, 1000)
        return scope, limit
    if name == "cycle run":
        if not args:
            return None
        try:
            return date.fromisoformat(args[0])
        except ValueError:
            raise bad(spec, f"date={args[0]!r} rule=YYYY-MM-DD") from None
    if name == "proposals list":
        if not args:
            return None
        try:
            return ProposalStatus(args[0].lower())
        except ValueError:
            valid = "|".join(s.value for s in ProposalStatus)
            raise bad(spec, f"status={args[0]!r} rule={valid}") from None
    if name == "proposals submit":
        return _parse_submit(spec, args)
    if name == "proposals reject":
        return args[0], _reason(args[1:])
    if name == "config show":
        return _int(spec, "version", args[0]) if args else None
    if name == "config diff":
        return _int(spec, "a", args[0]), _int(spec, "b", args[1])
    if name == "config rollback":
        reason = _reason(args[1:])
        if not reason:
            raise bad(spec, "reason=<empty> rule=say why (kept in the audit)")
        return _int(spec, "version", args[0]), reason
    return list(args)


def _parse_submit(spec: CommandSpec, args: list[str]) -> tuple[dict[str, Any], str]:
    changes: dict[str, Any] = {}
    for i, arg in enumerate(args):
        if arg in ("--reason", "-r"):
            reason = " ".join(args[i + 1 :]).strip()
            break
        key, eq, value = arg.partition("=")
        if not eq or not key:
            raise bad(spec, f"change={arg!r} rule=KEY=VALUE")
        changes[key] = _value(value)
    else:
        reason = ""
    if not changes:
        raise bad(spec, "changes=<none> rule=at least one KEY=VALUE")
    if not reason:
        raise bad(spec, "reason=<empty> rule=--reason REASON")
    return changes, reason


# -- runners ---------------------------------------------------------------------------
def help_answer(deps: Deps, op: Operator, topic: list[str]) -> Answer:
    wanted = " ".join(topic).lower()
    specs = [s for s in COMMANDS.values() if op.role.allows(s.min_role)]
    if wanted:
        specs = [s for s in specs if wanted in (s.name, s.group)]
        if not specs:
            raise CommandRefusedError(
                DenialCode.UNKNOWN_COMMAND, f"command={wanted} role={op.role.value}"
            )
    rows = [
        CommandRow(
            name=s.name,
            usage=s.usage,
            help=s.help,
            min_role=s.min_role.value,
            critical=s.critical,
            slow=s.slow,
        )
        for s in specs
    ]
    return HelpView(role=op.role.value, commands=rows), f"{len(rows)} commands for {op.name}"


def whoami_answer(deps: Deps, op: Operator, platform: Platform, user_id: str) -> Answer:
    view = WhoamiView(
        name=op.name,
        role=op.role.value,
        platform=platform.value,
        user_id=user_id,
        slack_id=op.slack_id,
        discord_id=op.discord_id,
        locked_until=deps.registry.locked_until(op.name),
    )
    return view, f"{op.name} ({op.role.value}) on {platform.value}"


def status_answer(deps: Deps) -> Answer:
    o = deps.options
    view = status_view(
        deps.control.status(),
        deps.store,
        mode=o.mode,
        labels=o.snapshot_labels,
        starting_cash=o.starting_cash,
    )
    equity = "unknown" if view.equity is None else f"{view.equity:,.2f}"
    return view, f"trading {view.effective}, equity {equity}"


def read_answer(deps: Deps, spec: CommandSpec, parsed: Any) -> Answer:
    o = deps.options
    if spec.name == "positions":
        pv = positions_view(deps.store, o.snapshot_labels)
        return pv, f"{len(pv.rows)} open positions ({pv.source})"
    if spec.name == "orders":
        ov = orders_view(deps.store, *parsed)
        return ov, f"{len(ov.rows)} {ov.scope} orders"
    if spec.name == "pnl":
        lv = pnl_view(deps.store, parsed, o.starting_cash)
        return lv, f"P&L over {len(lv.rows)} days: {lv.total_pnl:+.2f}"
    if spec.name == "explain":
        ev = explain_view(deps.store, parsed[0])
        return ev, f"order {ev.order_id}: {len(ev.explanation.get('chain', []))} messages"
    rv = report_view(deps.store, parsed[0] if parsed else None, o.reports_dir)
    return rv, f"report of {rv.cycle.cycle_id}: {rv.path}"


def trading_answer(deps: Deps, op: Operator, action: str, reason: str) -> Answer:
    control = deps.control
    if action == "kill":
        control.engage_kill_switch(reason, op.name)
        deps.notifier.notify(
            GuardTripped(
                guard="kill_switch", code="KILL_SWITCH_ENGAGED", detail=reason, actor=op.name
            )
        )
    elif action == "release":
        control.release_kill_switch(reason, op.name)
    else:
        state = {
            "halt": TradingState.HALTED,
            "reduce": TradingState.REDUCING,
            "resume": TradingState.ACTIVE,
        }[action]
        control.set_state(state, reason, op.name)
    view = trading_view(control.status(), action)
    return view, f"trading {view.effective} (by {op.name})"


async def cycle_answer(deps: Deps, as_of: date | None) -> Answer:
    if deps.cycle_runner is None:
        raise CommandRefusedError(
            DenialCode.NOT_AVAILABLE, "command=cycle run: no cycle runner is wired here"
        )
    try:
        summary = await deps.cycle_runner(as_of)
    except Exception as exc:
        day = as_of.isoformat() if as_of else "latest"
        deps.notifier.notify(CycleFailed(cycle_id=f"cycle-{day}", as_of=day, error=str(exc)))
        raise
    # A finished cycle is announced by the cycle itself (workflows.cycle_notices), once.
    brief = cycle_brief({"cycle_id": summary.get("cycle_id"), "summary": summary})
    brief = brief.model_copy(update={"date": str(summary.get("date", ""))})
    view = CycleRunView(cycle=brief, rejected=len(summary.get("rejected") or []), summary=summary)
    return view, f"cycle {brief.cycle_id} {brief.status}: {brief.orders} orders"


def operator_confirmed_live(store: Store) -> bool:
    """The newest ``mode`` record an operator made (with TOTP) says live. A cycle needs
    this as well as the settings' ``live_confirmed`` before an order may go to a live
    broker (the compliance agent's LIVE_NOT_CONFIRMED denial)."""
    record = store.kv_get(MODE_KEY)
    return isinstance(record, dict) and record.get("mode") == "live"


def mode_answer(deps: Deps, op: Operator, wanted: str, reason: str) -> Answer:
    """Record the operator's confirmation. Live trading is in force only when the settings
    say ``mode = "live"`` with ``live_confirmed`` and the broker uses a live port too."""
    o = deps.options
    record = {"mode": wanted, "by": op.name, "reason": reason, "at": utcnow().isoformat()}
    deps.store.kv_set(MODE_KEY, record, actor=op.name)
    deps.audit.append(op.name, f"mode:{wanted}", {"reason": reason})
    missing = [
        need
        for need, ok in (
            ("settings mode = live", o.mode == "live"),
            ("settings live_confirmed = true", o.live_confirmed),
            ("a live broker port (ibkr 7496 / 4001)", o.live_port),
        )
        if not ok
    ]
    if wanted != "live":
        missing.insert(0, "the operator's `mode live` confirmation")
    view = ModeView(
        confirmation="live" if wanted == "live" else "paper",
        confirmed_by=op.name,
        settings_mode=o.mode,
        live_confirmed=o.live_confirmed,
        live_port=o.live_port,
        live_in_force=not missing,
        missing=missing,
    )
    state = "in force" if view.live_in_force else "not in force"
    return view, f"mode {wanted} recorded by {op.name}; live trading {state}"


def _desk(desk: Any, what: str) -> Any:
    if desk is None:
        raise CommandRefusedError(DenialCode.NOT_AVAILABLE, f"{what} is not built yet")
    return desk


def precheck(deps: Deps, op: Operator, spec: CommandSpec, parsed: Any) -> None:
    """Refuse a critical decision that is bound to fail (the proposal is unknown, not
    pending, expired or the approver's own; the version is unknown or already active)
    before its one-time code is checked: a code is accepted once, and spending it on a
    doomed request would leave the next attempt TOTP_REUSED instead of the real reason.
    The desk checks the same rules again when it decides; this only reads."""
    if spec.name == "proposals approve":
        desk: ProposalDesk = _desk(deps.proposals, "proposal review")
        refused = decision_refusal(desk.get_proposal(parsed[0]), op.name, approve=True)
        if refused is not None:
            raise refused
    elif spec.name == "config rollback":
        config: ConfigDesk = _desk(deps.config, "configuration versioning")
        number = parsed[0]
        if config.version(number).version == config.version(None).version:
            raise ProposalRefusedError(
                ProposalRefusal.NO_CHANGE, f"version={number} rule=already the active version"
            )


async def proposals_answer(deps: Deps, op: Operator, spec: CommandSpec, parsed: Any) -> Answer:
    desk: ProposalDesk = _desk(deps.proposals, "proposal review")
    sub = spec.name.split(" ", 1)[1]
    if sub == "list":
        items = desk.list_proposals(parsed)
        label = parsed.value if parsed else "all"
        return ProposalsView(status=parsed, proposals=items), f"{len(items)} proposals ({label})"
    if sub == "show":
        p = desk.get_proposal(parsed[0])
    elif sub == "submit":
        p = await desk.submit(parsed[0], parsed[1], op.name)
    elif sub == "approve":
        p = await desk.approve(parsed[0], op.name)
    else:
        p = await desk.reject(parsed[0], op.name, parsed[1])
    return ProposalView(action=sub, proposal=p), f"proposal {p.id} {p.status.value}"


def config_answer(deps: Deps, op: Operator, spec: CommandSpec, parsed: Any) -> Answer:
    desk: ConfigDesk = _desk(deps.config, "configuration versioning")
    sub = spec.name.split(" ", 1)[1]
    if sub == "history":
        versions = desk.history()
        return ConfigView(action="history", versions=versions), f"{len(versions)} versions"
    if sub == "diff":
        a, b = parsed
        diff = desk.diff(a, b)
        return ConfigView(action="diff", diff=diff), f"{len(diff)} keys differ {a} -> {b}"
    if sub == "rollback":
        number, reason = parsed
        v = desk.rollback(number, reason, op.name)
        return ConfigView(action="rollback", versions=[v]), f"version {v.version} active"
    v = desk.version(parsed)
    return ConfigView(action="show", versions=[v]), f"version {v.version}"

"""What operator commands return: typed views, one per kind of answer.

Transports render them (``adapters/chat/render.py``); nothing here builds display text.
Each view has ``view`` (the discriminator), ``facts()`` (ordered name → value pairs for a
headline block) and ``table()`` (columns and rows, for the views that list things), so a
transport can render any view the same way and special-case only what it wants to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.proposals import ConfigVersion, Proposal

Cell = str | float | int | None
Fact = tuple[str, Cell]


class Table(BaseModel):
    model_config = ConfigDict(frozen=True)

    columns: list[str]
    rows: list[list[Cell]]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def facts(self) -> list[Fact]:
        return []

    def table(self) -> Table | None:
        return None


class CommandRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    usage: str
    help: str
    min_role: str
    critical: bool
    slow: bool


class HelpView(_View):
    view: Literal["help"] = "help"
    role: str
    commands: list[CommandRow]

    def table(self) -> Table:
        rows: list[list[Cell]] = [
            [c.usage, c.min_role, "yes" if c.critical else "", c.help] for c in self.commands
        ]
        return Table(columns=["command", "role", "totp", "what"], rows=rows)


class CycleBrief(BaseModel):
    model_config = ConfigDict(frozen=True)

    cycle_id: str
    date: str
    status: str
    orders: int = 0
    fills: int = 0
    equity: float | None = None
    report: str | None = None


class StatusView(_View):
    view: Literal["status"] = "status"
    effective: str
    state: str
    kill_switch: bool
    reason: str = ""
    actor: str = "system"
    changed_at: datetime | None = None
    version: int = 0  # the trading status's version (one per change)
    mode: str = "paper"
    equity: float | None = None
    equity_source: str | None = None  # the snapshot label or "equity curve"
    day_pnl: float | None = None
    pnl_date: str | None = None
    last_cycle: CycleBrief | None = None

    def facts(self) -> list[Fact]:
        cycle = self.last_cycle
        return [
            ("trading", self.effective),
            ("state", self.state),
            ("kill switch", "ON" if self.kill_switch else "off"),
            ("changed by", f"{self.actor}: {self.reason}" if self.reason else self.actor),
            ("mode", self.mode),
            ("equity", self.equity),
            ("P&L " + (self.pnl_date or "today"), self.day_pnl),
            (
                "last cycle",
                f"{cycle.cycle_id} ({cycle.date}) {cycle.status}" if cycle else "none yet",
            ),
        ]


class PositionRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    quantity: int
    avg_price: float
    last: float
    market_value: float
    unrealised_pnl: float
    stop: float | None = None  # the protective stop price, when an open STOP order exists


class PositionsView(_View):
    view: Literal["positions"] = "positions"
    source: str  # the snapshot label the positions come from
    as_of: datetime | None = None
    cash: float | None = None
    equity: float | None = None
    rows: list[PositionRow] = Field(default_factory=list)

    def facts(self) -> list[Fact]:
        return [("cash", self.cash), ("equity", self.equity), ("positions", len(self.rows))]

    def table(self) -> Table:
        cols = ["symbol", "quantity", "avg_price", "last", "market_value", "unrealised_pnl", "stop"]
        rows: list[list[Cell]] = [
            [
                r.symbol,
                r.quantity,
                round(r.avg_price, 4),
                round(r.last, 4),
                round(r.market_value, 2),
                round(r.unrealised_pnl, 2),
                r.stop,
            ]
            for r in self.rows
        ]
        return Table(columns=cols, rows=rows)


class OrderRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    client_ref: str
    symbol: str
    side: str
    quantity: int
    filled: int
    type: str
    status: str
    limit_price: float | None = None
    stop_price: float | None = None
    updated_at: datetime


class OrdersView(_View):
    view: Literal["orders"] = "orders"
    scope: Literal["open", "all"] = "open"
    rows: list[OrderRow] = Field(default_factory=list)

    def facts(self) -> list[Fact]:
        return [("orders", f"{len(self.rows)} {self.scope}")]

    def table(self) -> Table:
        cols = ["order_id", "symbol", "side", "qty", "filled", "type", "price", "status"]
        rows: list[list[Cell]] = [
            [
                r.order_id,
                r.symbol,
                r.side,
                r.quantity,
                r.filled,
                r.type,
                r.limit_price if r.limit_price is not None else r.stop_price,
                r.status,
            ]
            for r in self.rows
        ]
        return Table(columns=cols, rows=rows)


class PnlRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    date: str
    equity: float
    pnl: float
    pnl_pct: float


class PnlView(_View):
    view: Literal["pnl"] = "pnl"
    days: int
    start_equity: float | None = None
    total_pnl: float = 0.0
    rows: list[PnlRow] = Field(default_factory=list)

    def facts(self) -> list[Fact]:
        return [("days", len(self.rows)), ("total P&L", round(self.total_pnl, 2))]

    def table(self) -> Table:
        rows: list[list[Cell]] = [
            [r.date, round(r.equity, 2), round(r.pnl, 2), f"{r.pnl_pct:+.2%}"] for r in self.rows
        ]
        return Table(columns=["date", "equity", "pnl", "pnl %"], rows=rows)


class CycleRunView(_View):
    view: Literal["cycle_run"] = "cycle_run"
    cycle: CycleBrief
    rejected: int = 0
    summary: dict[str, Any]

    def facts(self) -> list[Fact]:
        c = self.cycle
        return [
            ("cycle", c.cycle_id),
            ("date", c.date),
            ("status", c.status),
            ("orders", c.orders),
            ("fills", c.fills),
            ("rejected", self.rejected),
            ("equity", c.equity),
            ("report", c.report),
        ]

    def table(self) -> Table:
        orders = self.summary.get("orders") or []
        cols = ["order_id", "symbol", "side", "qty", "type", "status"]
        return Table(columns=cols, rows=[[o.get(c) for c in cols] for o in orders])


class ExplainView(_View):
    view: Literal["explain"] = "explain"
    order_id: str
    cycle_id: str
    symbol: str | None = None
    explanation: dict[str, Any]  # workflows.explain.explain()

    def facts(self) -> list[Fact]:
        ev = self.explanation.get("evidence", {})
        return [
            ("order", self.order_id),
            ("cycle", self.cycle_id),
            ("symbol", self.symbol),
            ("evidence", ", ".join(f"{len(v)} {k}" for k, v in ev.items())),
        ]

    def table(self) -> Table:
        chain = self.explanation.get("chain", [])
        rows: list[list[Cell]] = [[n["sender"], n["kind"], n["says"]] for n in chain]
        return Table(columns=["sender", "kind", "says"], rows=rows)


class ReportView(_View):
    view: Literal["report"] = "report"
    cycle: CycleBrief
    path: str
    markdown: str | None = None  # the Markdown twin beside the HTML, if written
    regenerated: bool = False  # the file was missing and was rendered again from the journal
    summary: dict[str, Any]

    def facts(self) -> list[Fact]:
        c = self.cycle
        return [
            ("cycle", c.cycle_id),
            ("date", c.date),
            ("status", c.status),
            ("orders", c.orders),
            ("fills", c.fills),
            ("equity", c.equity),
            ("report", self.path),
        ]


class TradingView(_View):
    view: Literal["trading"] = "trading"
    action: str  # status | halt | reduce | resume | kill | release
    effective: str
    state: str
    kill_switch: bool
    reason: str = ""
    actor: str = "system"
    changed_at: datetime | None = None
    version: int = 0

    def facts(self) -> list[Fact]:
        return [
            ("trading", self.effective),
            ("state", self.state),
            ("kill switch", "ON" if self.kill_switch else "off"),
            ("by", f"{self.actor}: {self.reason}" if self.reason else self.actor),
        ]


class ProposalsView(_View):
    view: Literal["proposals"] = "proposals"
    status: str | None = None
    proposals: list[Proposal] = Field(default_factory=list)

    def table(self) -> Table:
        rows: list[list[Cell]] = [
            [
                p.id,
                p.status.value,
                p.author,
                ", ".join(f"{k}={v}" for k, v in p.changes.items()),
                p.created_at.date().isoformat(),
            ]
            for p in self.proposals
        ]
        return Table(columns=["id", "status", "author", "changes", "created"], rows=rows)


class ProposalView(_View):
    view: Literal["proposal"] = "proposal"
    action: str = "show"  # show | submit | approve | reject
    proposal: Proposal

    def facts(self) -> list[Fact]:
        p = self.proposal
        return [
            ("proposal", p.id),
            ("status", p.status.value),
            ("author", p.author),
            ("reason", p.reason),
            ("refusal", p.refusal),
            ("decided by", p.decided_by),
            ("applied version", p.applied_version),
        ]

    def table(self) -> Table:
        p = self.proposal
        rows: list[list[Cell]] = [
            [k, str(p.current.get(k)), str(v)] for k, v in sorted(p.changes.items())
        ]
        return Table(columns=["key", "current", "proposed"], rows=rows)


class ConfigView(_View):
    view: Literal["config"] = "config"
    action: Literal["show", "history", "diff", "rollback"]
    versions: list[ConfigVersion] = Field(default_factory=list)
    diff: dict[str, list[Any]] | None = None

    def facts(self) -> list[Fact]:
        if self.action in ("show", "rollback") and self.versions:
            v = self.versions[0]
            return [
                ("version", v.version),
                ("active", "yes" if v.active else "no"),
                ("author", v.author),
                ("approver", v.approver),
                ("reason", v.reason),
            ]
        return []

    def table(self) -> Table:
        if self.action == "history":
            rows: list[list[Cell]] = [
                [
                    v.version,
                    "*" if v.active else "",
                    v.author,
                    v.approver,
                    ", ".join(sorted(v.diff)),
                    v.created_at.date().isoformat(),
                ]
                for v in self.versions
            ]
            return Table(
                columns=["version", "active", "author", "approver", "changed", "created"],
                rows=rows,
            )
        if self.action == "diff":
            pairs = sorted((self.diff or {}).items())
            return Table(
                columns=["key", "from", "to"], rows=[[k, str(a), str(b)] for k, (a, b) in pairs]
            )
        values = sorted(self.versions[0].values.items()) if self.versions else []
        return Table(columns=["key", "value"], rows=[[k, str(v)] for k, v in values])


class WhoamiView(_View):
    view: Literal["whoami"] = "whoami"
    name: str
    role: str
    platform: str
    user_id: str
    slack_id: str | None = None
    discord_id: str | None = None
    locked_until: datetime | None = None

    def facts(self) -> list[Fact]:
        return [
            ("operator", self.name),
            ("role", self.role),
            ("platform", f"{self.platform} ({self.user_id})"),
            ("slack", self.slack_id),
            ("discord", self.discord_id),
            ("locked until", self.locked_until.isoformat() if self.locked_until else None),
        ]


class ModeView(_View):
    """``mode live|paper``: the operator's confirmation, and whether live trading is in
    force. The confirmation alone never is: settings and the broker's port decide too."""

    view: Literal["mode"] = "mode"
    confirmation: Literal["live", "paper"]
    confirmed_by: str
    settings_mode: str
    live_confirmed: bool
    live_port: bool
    live_in_force: bool
    missing: list[str] = Field(default_factory=list)

    def facts(self) -> list[Fact]:
        return [
            ("operator confirmation", f"{self.confirmation} (by {self.confirmed_by})"),
            ("settings mode", self.settings_mode),
            ("live_confirmed", "yes" if self.live_confirmed else "no"),
            ("live broker port", "yes" if self.live_port else "no"),
            ("live trading in force", "YES" if self.live_in_force else "no"),
            ("still needed", ", ".join(self.missing) or None),
        ]


ResultView = Annotated[
    HelpView
    | StatusView
    | PositionsView
    | OrdersView
    | PnlView
    | CycleRunView
    | ExplainView
    | ReportView
    | TradingView
    | ProposalsView
    | ProposalView
    | ConfigView
    | WhoamiView
    | ModeView,
    Field(discriminator="view"),
]

"""`quorum proposals`: change proposals, their evidence, and the human decision.

Reads (`list`, `show`) open the store directly. Every decision (`submit`, `approve`,
`reject`) goes through the operator service as the local operator (settings
``operators.local_operator``, else the login name; ``--actor`` names another enrolled
operator), so roles, one-time passwords and the audit apply as on every transport:
submit needs a trader, approve and reject an admin, approve a fresh ``--totp`` code, and
whoever proposed a change cannot approve it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from adapters.cli.common import EXIT_INVALID, fail, handle_errors, open_store, print_json, settings
from adapters.cli.trading import ACTOR, TOTP

if TYPE_CHECKING:
    from core.proposals import Proposal
    from workflows.operator import CommandResult

proposals_app = typer.Typer(
    help="Change proposals: agents (from scored lessons) and operators propose, evidence is "
    "computed (walk-forward backtest or simulation, deflated Sharpe), another operator "
    "approves or rejects, and an approval becomes a new configuration version.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Machine-readable output.")


def register(app: typer.Typer) -> None:
    app.add_typer(proposals_app, name="proposals")


def operator_command(
    command: str,
    args: list[str],
    actor: str | None,
    totp: str | None = None,
    retry: str | None = None,
) -> CommandResult:
    """Run one command through the operator service as the local (or ``--actor``)
    operator; a refusal exits 1 with its one-line reason and what to do next. ``retry``
    is the command line to suggest to another admin, with ``{actor}`` for their name."""
    import asyncio

    from adapters.cli.operators import local_caller, open_service
    from workflows.operator import CommandRequest
    from workflows.operators import Platform, Role

    with open_service() as (s, service):
        request = CommandRequest(
            caller=local_caller(s, Platform.CLI, actor), command=command, args=args, totp=totp
        )
        result = asyncio.run(service.execute(request))
        admins = [o.name for o in service.registry.list() if o.role is Role.ADMIN]
    if not result.ok or result.data is None:
        code = result.code.value if result.code is not None else ""
        hint = next_step(code, result.operator, admins, retry)
        raise fail(result.message + (f"; {hint}" if hint else ""), EXIT_INVALID)
    return result


def next_step(code: str, operator: str | None, admins: list[str], retry: str | None) -> str:
    """What a terminal user does after a refusal, as a command where there is one."""
    if code == "TOTP_REQUIRED":
        return f"add --totp CODE: the 6-digit code {operator}'s authenticator app shows now"
    if code == "TOTP_REUSED":
        return "each code is accepted once: wait for the next one (every 30 s) and run it again"
    if code == "TOTP_INVALID":
        return f"use the code {operator}'s authenticator app shows now (its clock must be right)"
    if code not in ("SELF_APPROVAL", "ROLE_FORBIDDEN") or retry is None:
        return ""
    others = [name for name in admins if name != operator]
    who = "another admin" if code == "SELF_APPROVAL" else "an admin"
    if others:
        listed = ", ".join(others)
        return f"{who} ({listed}) decides it: {retry.format(actor=others[0])}"
    return (
        f"no other admin is enrolled: enrol one (quorum operators add NAME --role admin),"
        f" then {retry.format(actor='NAME')}"
    )


# -- rendering ----------------------------------------------------------------------------
def _pct(x: Any, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{100 * float(x):+.2f} %" if signed else f"{100 * float(x):.2f} %"


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.2f}"


def evidence_tables(evidence: dict[str, Any] | None) -> list[Any]:
    """One rich table per evidence section: per fold and overall, current vs proposed."""
    from rich.table import Table

    tables = []
    for section in (evidence or {}).get("sections", []):
        what = section.get("strategy") or "agent graph"
        title = f"{section['method']} ({what}) {section['window']}"
        table = Table("fold", "side", "return", "Sharpe", "max DD", "trades", title=title)
        rows = [(f"{f['fold']} {f['start']}..{f['end']}", f) for f in section["folds"]]
        rows.append(("all", section["overall"]))
        for fold, data in rows:
            for side in ("current", "proposed"):
                m = data[side]
                table.add_row(fold, side, _pct(m["return"]), _num(m["sharpe"]),
                              _pct(m["max_drawdown"], signed=False), str(m["trades"]))  # fmt: skip
        dsr = section["deflated_sharpe"]
        table.caption = (
            f"deflated Sharpe of the proposed configuration: {_num(dsr['value'])}"
            f" ({dsr['trials']} variants tried, {dsr['n_obs']} returns)"
        )
        tables.append(table)
    return tables


def print_proposal(p: Proposal) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    colour = {"pending": "yellow", "approved": "green", "refused": "red", "rejected": "red"}
    console.print(
        f"[bold]{p.id}[/bold] [{colour.get(p.status.value, 'white')}]{p.status.value.upper()}"
        f"[/] by {p.author}: {p.reason}"
    )
    for key, value in p.changes.items():
        console.print(f"  {key}: {p.current.get(key, '?')} -> {value}")
    if p.refusal:
        console.print(f"  refused: {p.refusal}")
    facts = [
        ("base version", p.base_version),
        ("lessons", ", ".join(p.lessons) or None),
        ("created", p.created_at.isoformat(timespec="seconds")),
        ("expires", p.expires_at.isoformat(timespec="seconds") if p.expires_at else None),
        ("decided by", p.decided_by),
        ("decision", p.decision_reason),
        ("applied as version", p.applied_version),
    ]
    for name, value in facts:
        if value is not None:
            console.print(f"  {name}: {value}")
    for table in evidence_tables(p.evidence):
        console.print(table)


def _desk() -> Any:
    from adapters.review import make_proposal_service

    s = settings()
    store = open_store(s)
    return store, make_proposal_service(s, store)


def refusal_exit(exc: Exception) -> typer.Exit:
    """A ``ProposalRefusedError`` read back as its own one line (its code leads it)."""
    return fail(str(exc), EXIT_INVALID)


# -- commands -----------------------------------------------------------------------------
@proposals_app.command("list")
@handle_errors
def list_cmd(
    status: str | None = typer.Option(
        None, "--status", help="evaluating | pending | refused | approved | rejected | expired"
    ),
    json_out: bool = JSON,
) -> None:
    """List proposals (oldest first); expired ones are marked so as they are read."""
    from core.proposals import ProposalStatus

    try:
        wanted = ProposalStatus(status.lower()) if status else None
    except ValueError:
        valid = " | ".join(s.value for s in ProposalStatus)
        raise fail(f"--status must be one of {valid}, not {status!r}", EXIT_INVALID) from None
    store, desk = _desk()
    try:
        items = desk.list_proposals(wanted)
    finally:
        store.close()
    if json_out:
        print_json([p.model_dump(mode="json") for p in items])
        return
    if not items:
        typer.echo("no proposals")
    for p in items:
        changes = ", ".join(f"{k}={v}" for k, v in p.changes.items())
        typer.echo(f"{p.id:<8} {p.status.value:<10} {p.author:<24} {changes}")


@proposals_app.command("show")
@handle_errors
def show(proposal_id: str = typer.Argument(..., help="e.g. p-1"), json_out: bool = JSON) -> None:
    """One proposal: the change, who made it, its evidence table and the decision."""
    from core.proposals import ProposalRefusedError

    store, desk = _desk()
    try:
        found = desk.get_proposal(proposal_id)
    except ProposalRefusedError as exc:
        raise refusal_exit(exc) from None
    finally:
        store.close()
    emit(found, json_out)


@proposals_app.command("submit")
@handle_errors
def submit(
    changes: list[str] = typer.Option(
        ...,
        "--set",
        help="KEY=VALUE, repeatable: risk.max_position_pct=0.25, "
        "strategy.ma_crossover.fast=12, universe.symbols=AAPL,MSFT, llm.debate_rounds=1",
    ),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: kept with the proposal."),
    actor: str | None = ACTOR,
    json_out: bool = JSON,
) -> None:
    """Propose a configuration change (trader). It is validated first (a risk limit may be
    tightened, never loosened past the hard caps: refused with the rule, exit 1, nothing
    changes), then its evidence is computed (a strategy change: a walk-forward backtest,
    seconds; anything else: two short simulations of the agent graph, about 20 s) and it
    waits for another admin's decision."""
    parsed: dict[str, str] = {}
    for item in changes:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise fail(f"--set must look like KEY=VALUE, not {item!r}", EXIT_INVALID)
        parsed[key.strip()] = value.strip()
    _check_submission(parsed, actor, json_out)
    args = [f"{k}={v}" for k, v in parsed.items()] + ["--reason", reason]
    result = operator_command("proposals", ["submit", *args], actor)
    _print_result(result, json_out)
    p = result.data.proposal  # type: ignore[union-attr]
    if not json_out and p.status.value == "pending":
        typer.echo(
            f"next: an admin other than {p.author} approves it"
            f" (quorum proposals approve {p.id} --actor ADMIN --totp CODE)"
            f" or rejects it (quorum proposals reject {p.id} --reason R --actor ADMIN)"
        )


def _check_submission(parsed: dict[str, str], actor: str | None, json_out: bool) -> None:
    """The keys and values, checked before anything else: a refusal names the rule it
    broke (to anyone, even before enrolment: the rules are no secret), is audited,
    records no proposal and exits 1; with --json it is printed as JSON too."""
    from adapters.cli.operators import local_caller
    from adapters.review import audit_log, config_desk
    from core.proposals import ProposalRefusedError
    from workflows.config_keys import validate_changes
    from workflows.operators import Platform

    s = settings()
    store = open_store(s)
    try:
        from adapters.runtime import load_market

        known = load_market(s).symbols()
        validate_changes(parsed, config_desk(s, store).values(), known)
    except ProposalRefusedError as exc:
        caller = local_caller(s, Platform.CLI, actor)
        audit_log(s, store).append(
            f"cli:{caller.user_id}",
            "proposal:refused",
            {"platform": "cli", "display": caller.display, "changes": parsed,
             "code": exc.code.value, "refusal": str(exc), "recorded": False},
        )  # fmt: skip
        if json_out:
            print_json({"status": "refused", "code": exc.code.value, "refusal": str(exc),
                        "changes": parsed})  # fmt: skip
        else:
            typer.echo(f"refused: {exc}")
        raise refusal_exit(exc) from None
    finally:
        store.close()


def emit(p: Proposal, json_out: bool) -> None:
    if json_out:
        print_json(p.model_dump(mode="json"))
    else:
        print_proposal(p)


def _print_result(result: CommandResult, json_out: bool) -> None:
    emit(result.data.proposal, json_out)  # type: ignore[union-attr]


@proposals_app.command("approve")
@handle_errors
def approve(
    proposal_id: str = typer.Argument(..., help="e.g. p-1"),
    totp: str | None = TOTP,
    actor: str | None = ACTOR,
    json_out: bool = JSON,
) -> None:
    """Approve a pending proposal (admin, --totp; never its own author): it is applied as
    a new configuration version, audited, and watched over the next cycles."""
    retry = f"quorum proposals approve {proposal_id} --actor {{actor}} --totp CODE"
    result = operator_command("proposals", ["approve", proposal_id], actor, totp, retry)
    _print_result(result, json_out)


@proposals_app.command("reject")
@handle_errors
def reject(
    proposal_id: str = typer.Argument(..., help="e.g. p-1"),
    reason: str = typer.Option(..., "--reason", "-r", help="Why: kept with the proposal."),
    actor: str | None = ACTOR,
    json_out: bool = JSON,
) -> None:
    """Reject a pending proposal (admin). Nothing changes in the configuration."""
    retry = f"quorum proposals reject {proposal_id} --reason R --actor {{actor}}"
    result = operator_command("proposals", ["reject", proposal_id, reason], actor, retry=retry)
    _print_result(result, json_out)


@proposals_app.command("sweep")
@handle_errors
def sweep(json_out: bool = JSON) -> None:
    """Expire overdue proposals and finish the evidence of any a crash interrupted."""
    import asyncio

    store, desk = _desk()
    try:
        touched = asyncio.run(desk.sweep())
    finally:
        store.close()
    if json_out:
        print_json({"touched": touched})
    else:
        typer.echo(f"swept: {', '.join(touched) or 'nothing to do'}")

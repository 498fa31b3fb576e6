"""The operator command service: one place that knows who may do what.

Transports (console, CLI, Slack, Discord, the REST API) parse, call ``execute`` (or
``run_text``) and render the typed result; nothing here knows a chat platform.

``execute`` never raises for a refusal or a bad command. It
1. identifies the caller (an unknown platform user can do nothing),
2. resolves the command and checks the operator's role,
3. checks the arguments (before any one-time password is spent), and refuses a decision
   that is bound to fail (someone's own proposal, one that is not pending, an unknown
   version) before its code is spent,
4. for a critical command, checks a fresh TOTP code (replay and lockout included),
5. runs it, and
6. appends one audit record for the attempt, allowed or denied, with the arguments
   redacted (TOTP codes, known secrets).

A lockout refuses only the critical commands: it protects the second factor from
guessing, and must not let someone who guesses codes from a chat account take the
operator's kill switch and halt away.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from config.logging import REDACTED, redact_text
from core.audit import AuditLog
from core.notifications import Notifier, NullNotifier
from core.ports import Store
from core.proposals import ConfigDesk, ProposalDesk, ProposalRefusal, ProposalRefusedError
from workflows.control import TradingControl
from workflows.explain import NotFoundError
from workflows.operator_actions import (
    CycleRunner,
    Deps,
    ServiceOptions,
    config_answer,
    cycle_answer,
    help_answer,
    mode_answer,
    parse_args,
    precheck,
    proposals_answer,
    read_answer,
    status_answer,
    trading_answer,
    whoami_answer,
)
from workflows.operator_commands import (
    COMMANDS,
    CommandSpec,
    arity_problem,
    group_spec,
    parse_text,
    redact_args,
    resolve,
    split_totp,
)
from workflows.operator_types import (
    Caller,
    CommandRefusedError,
    CommandRequest,
    CommandResult,
    DenialCode,
    Outcome,
)
from workflows.operator_views import ResultView
from workflows.operators import Operator, OperatorRegistry, Platform, TotpOutcome

__all__ = [
    "COMMANDS",
    "Caller",
    "CommandRefusedError",
    "CommandRequest",
    "CommandResult",
    "CommandSpec",
    "DenialCode",
    "OperatorService",
    "Outcome",
    "Platform",
    "ResultView",
    "ServiceOptions",
]

log = logging.getLogger(__name__)
TRADING_ACTIONS = ("halt", "reduce", "kill", "resume", "release")
READS = ("positions", "orders", "pnl", "explain", "report")
_TOTP_DENIALS = {
    TotpOutcome.REQUIRED: DenialCode.TOTP_REQUIRED,
    TotpOutcome.INVALID: DenialCode.TOTP_INVALID,
    TotpOutcome.REUSED: DenialCode.TOTP_REUSED,
    TotpOutcome.LOCKED: DenialCode.OPERATOR_LOCKED,
}
_PROPOSAL_CODES = {
    ProposalRefusal.SELF_APPROVAL: DenialCode.SELF_APPROVAL,
    ProposalRefusal.UNKNOWN_PROPOSAL: DenialCode.NOT_FOUND,
    ProposalRefusal.UNKNOWN_VERSION: DenialCode.NOT_FOUND,
}


class OperatorService:
    COMMANDS: Mapping[str, CommandSpec] = COMMANDS

    def __init__(
        self,
        *,
        store: Store,
        control: TradingControl,
        registry: OperatorRegistry,
        audit: AuditLog,
        options: ServiceOptions | None = None,
        cycle_runner: CycleRunner | None = None,
        proposals: ProposalDesk | None = None,
        config: ConfigDesk | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._deps = Deps(
            store=store,
            control=control,
            registry=registry,
            audit=audit,
            options=options or ServiceOptions(),
            notifier=notifier or NullNotifier(),
            cycle_runner=cycle_runner,
            proposals=proposals,
            config=config,
        )

    @property
    def registry(self) -> OperatorRegistry:
        return self._deps.registry

    @property
    def control(self) -> TradingControl:
        return self._deps.control

    @property
    def options(self) -> ServiceOptions:
        return self._deps.options

    def identify(self, caller: Caller) -> Operator | None:
        return self._deps.registry.by_platform(caller.platform, caller.user_id)

    def command_spec(self, name: str, args: Sequence[str] = ()) -> CommandSpec | None:
        """The spec of ``name`` (``"halt"``, ``"proposals approve"``) or, with ``args``,
        of the subcommand they name; a bare group (``"proposals"``) gives the group's
        combined spec (least role, critical or slow if any member is)."""
        found = resolve(name, list(args))
        if found is not None and (args or " " in name or found[0].group != name.lower()):
            return found[0]
        return group_spec(name.strip().lower()) or (found[0] if found else None)

    async def run_text(self, caller: Caller, text: str) -> CommandResult:
        """``"resume all clear --totp 123456"`` → ``execute``. A line that cannot be
        parsed is a BAD_ARGUMENTS result for an operator, UNKNOWN_USER for anyone else
        (audited like any attempt, its text withheld: it may hold a code)."""
        try:
            parsed = parse_text(text)
        except ValueError as exc:
            request = CommandRequest(caller=caller, command="", args=[])
            operator = self.identify(caller)
            refused = (
                CommandRefusedError(DenialCode.BAD_ARGUMENTS, str(exc))
                if operator is not None
                else CommandRefusedError(DenialCode.UNKNOWN_USER, self._unknown_hint(caller))
            )
            result = self._refusal(request, operator, None, refused)
            self._audit_attempt(request, result, [REDACTED])
            return result
        request = CommandRequest(
            caller=caller, command=parsed.command, args=parsed.args, totp=parsed.totp
        )
        return await self.execute(request)

    async def execute(self, request: CommandRequest) -> CommandResult:
        operator = self.identify(request.caller)
        try:
            clean = self._without_codes(request)
            result = await self._execute(clean, operator)
        except CommandRefusedError as refused:
            result = self._refusal(request, operator, self._spec_name(request), refused)
        self._audit_attempt(request, result, self._audit_args(request))
        return result

    @staticmethod
    def _without_codes(request: CommandRequest) -> CommandRequest:
        """A transport may leave ``--totp CODE`` in the arguments: take it out (so no
        code ever reaches a reason, a store or the audit) and use it as the code."""
        try:
            args, found = split_totp(request.args)
        except ValueError as exc:
            raise CommandRefusedError(DenialCode.BAD_ARGUMENTS, str(exc)) from None
        totp = request.totp or found
        if totp:
            args = [a for a in args if a != totp]
        return request.model_copy(update={"args": args, "totp": totp})

    # -- the steps ---------------------------------------------------------------------
    def _spec_name(self, request: CommandRequest) -> str | None:
        try:
            args = split_totp(request.args)[0]
        except ValueError:
            args = list(request.args)
        found = resolve(request.command, args)
        return found[0].name if found else None

    async def _execute(self, request: CommandRequest, op: Operator | None) -> CommandResult:
        caller = request.caller
        if op is None:
            raise CommandRefusedError(DenialCode.UNKNOWN_USER, self._unknown_hint(caller))
        found = resolve(request.command, request.args)
        if found is None:
            group = group_spec(request.command.strip().lower())
            usage = f" usage={group.usage!r}" if group else " try=help"
            raise CommandRefusedError(
                DenialCode.UNKNOWN_COMMAND,
                f"command={' '.join([request.command, *request.args[:1]]).strip()}{usage}",
            )
        spec, args = found
        if not op.role.allows(spec.min_role):
            raise CommandRefusedError(
                DenialCode.ROLE_FORBIDDEN,
                f"command={spec.name} role={op.role.value} needs={spec.min_role.value}",
            )
        problem = arity_problem(spec, args)
        if problem is not None:
            raise CommandRefusedError(DenialCode.BAD_ARGUMENTS, problem)
        parsed = parse_args(spec, args)
        try:
            precheck(self._deps, op, spec, parsed)  # a doomed decision spends no code
            if spec.critical:
                self._check_totp(op, spec, request.totp)
            view, message = await self._run(op, caller, spec, parsed)
        except CommandRefusedError:
            raise
        except ProposalRefusedError as exc:
            code = _PROPOSAL_CODES.get(exc.code, DenialCode.PROPOSAL_REFUSED)
            detail = str(exc)
            if code.value == exc.code.value:  # "SELF_APPROVAL: ..." once, not twice
                detail = detail.removeprefix(f"{exc.code.value}: ")
            raise CommandRefusedError(code, detail, outcome=Outcome.DENIED) from None
        except NotFoundError as exc:
            raise CommandRefusedError(DenialCode.NOT_FOUND, str(exc)) from None
        except Exception as exc:  # a transport must get an answer, never a traceback
            log.warning("operator command %s failed: %s", spec.name, redact_text(repr(exc)))
            detail = f"command={spec.name} error={type(exc).__name__}: {exc}"
            raise CommandRefusedError(DenialCode.COMMAND_FAILED, redact_text(detail)) from None
        return CommandResult(
            command=spec.name,
            outcome=Outcome.OK,
            message=redact_text(message),
            data=view,
            operator=op.name,
        )

    def _unknown_hint(self, caller: Caller) -> str:
        who = f"platform={caller.platform.value} user={caller.user_id or '<none>'}"
        if caller.platform in (Platform.CLI, Platform.CONSOLE):
            if not self._deps.registry.list():
                return (
                    f"{who}: no operator is enrolled yet; enrol yourself first: "
                    f"quorum operators add {caller.user_id} --role admin"
                )
            return (
                f"{who} is not an enrolled operator; an admin enrols it with: "
                f"quorum operators add {caller.user_id} --role viewer|trader|admin"
            )
        flag = {Platform.SLACK: " --slack-id ", Platform.DISCORD: " --discord-id "}.get(
            caller.platform, ""
        )
        hint = f" (enrol: quorum operators add NAME --role ROLE{flag}{caller.user_id})"
        return f"{who} is not an enrolled operator" + (hint if flag else "")

    def _check_totp(self, op: Operator, spec: CommandSpec, code: str | None) -> None:
        check = self._deps.registry.verify_totp(op.name, code)
        if check.ok:
            return
        denial = _TOTP_DENIALS[check.outcome]
        context = f"command={spec.name} operator={op.name}"
        if check.outcome is TotpOutcome.INVALID:
            context += f" failures={check.failures} remaining={check.remaining}"
        if check.locked_until is not None:
            context += f" locked_until={check.locked_until.isoformat(timespec='seconds')}"
        raise CommandRefusedError(denial, context)

    async def _run(
        self, op: Operator, caller: Caller, spec: CommandSpec, parsed: Any
    ) -> tuple[ResultView, str]:
        deps = self._deps
        name = spec.name
        if name == "help":
            return help_answer(deps, op, parsed)
        if name == "whoami":
            return whoami_answer(deps, op, caller.platform, caller.user_id)
        if name == "status":
            return status_answer(deps)
        if name in READS:
            return read_answer(deps, spec, parsed)
        if name in TRADING_ACTIONS:
            return trading_answer(deps, op, name, parsed)
        if name == "cycle run":
            return await cycle_answer(deps, parsed)
        if name in ("mode live", "mode paper"):
            return mode_answer(deps, op, name.split(" ", 1)[1], parsed)
        if spec.group == "proposals":
            return await proposals_answer(deps, op, spec, parsed)
        if spec.group == "config":
            return config_answer(deps, op, spec, parsed)
        raise CommandRefusedError(DenialCode.UNKNOWN_COMMAND, f"command={name}")  # pragma: no cover

    # -- results and audit ---------------------------------------------------------------
    @staticmethod
    def _refusal(
        request: CommandRequest,
        op: Operator | None,
        spec_name: str | None,
        refused: CommandRefusedError,
    ) -> CommandResult:
        return CommandResult(
            command=spec_name or request.command,
            outcome=refused.outcome,
            code=refused.code,
            message=redact_text(str(refused)),
            operator=op.name if op else None,
        )

    @staticmethod
    def _audit_args(request: CommandRequest) -> list[str]:
        args = redact_args(request.args)
        if request.totp:
            args = [REDACTED if a == request.totp else a for a in args]
        return args

    def _audit_attempt(
        self, request: CommandRequest, result: CommandResult, args: list[str]
    ) -> None:
        caller = request.caller
        actor = result.operator or f"{caller.platform.value}:{caller.user_id}"
        self._deps.audit.append(
            actor,
            f"command:{request.command or '<unparsed>'}",
            {
                "platform": caller.platform.value,
                "user_id": caller.user_id,
                "display": caller.display,
                "command": result.command,
                "args": args,
                "totp": REDACTED if request.totp else None,
                "outcome": result.outcome.value,
                "code": result.code.value if result.code else None,
                "message": result.message,
            },
        )

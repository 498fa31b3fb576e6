"""The operator commands: who may run each, which need a one-time password, and how a
line of text becomes a command (``resume all clear --totp 123456``).

Role table (each role may also run everything of the roles before it):

- viewer: help, whoami, status, positions, orders, pnl, explain, report,
  proposals list/show, config show/history/diff
- trader: cycle run, halt, reduce, kill, proposals submit
- admin: resume, release, proposals approve/reject, config rollback, mode live/paper

Critical (a fresh TOTP code each time): resume, release, proposals approve,
config rollback, mode live.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from config.logging import REDACTED, redact_text
from workflows.operators import Role

TOTP_FLAGS = ("--totp", "--otp")


class CommandSpec(BaseModel):
    """One command (``name`` is ``"halt"`` or, under a group, ``"proposals approve"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    usage: str
    help: str
    min_role: Role = Role.VIEWER
    critical: bool = False  # needs a TOTP code
    slow: bool = False  # transports with a reply deadline defer it
    min_args: int = 0
    max_args: int | None = None  # None: any number (reason words)

    @property
    def group(self) -> str:
        return self.name.split(" ", 1)[0]


V, T, A = Role.VIEWER, Role.TRADER, Role.ADMIN
_SPECS = [
    CommandSpec(name="help", usage="help [COMMAND]", help="The commands you may run.", max_args=2),
    CommandSpec(name="whoami", usage="whoami", help="Who you are to Quorum.", max_args=0),
    CommandSpec(
        name="status",
        usage="status",
        help="Trading state, kill switch, equity, today's P&L, last cycle.",
        max_args=0,
    ),
    CommandSpec(name="positions", usage="positions", help="Open positions with stops.", max_args=0),
    CommandSpec(
        name="orders",
        usage="orders [all] [N]",
        help="Open orders; `all`: the N latest of any status.",
        max_args=2,
    ),
    CommandSpec(name="pnl", usage="pnl [DAYS]", help="Daily equity and P&L.", max_args=1),
    CommandSpec(
        name="explain",
        usage="explain ORDER|CLIENT_REF",
        help="Why an order exists: its causation chain.",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        name="report",
        usage="report [CYCLE]",
        help="A cycle's report (default: the last cycle).",
        slow=True,
        max_args=1,
    ),
    CommandSpec(
        name="cycle run",
        usage="cycle run [YYYY-MM-DD]",
        help="Run the daily cycle (default: the last day with data).",
        min_role=T,
        slow=True,
        max_args=1,
    ),
    CommandSpec(
        name="halt", usage="halt REASON", help="HALTED: no new orders.", min_role=T, min_args=1
    ),
    CommandSpec(
        name="reduce",
        usage="reduce REASON",
        help="REDUCING: only orders that shrink exposure.",
        min_role=T,
        min_args=1,
    ),
    CommandSpec(
        name="kill",
        usage="kill REASON",
        help="Engage the kill switch: nothing reaches a broker.",
        min_role=T,
        min_args=1,
    ),
    CommandSpec(
        name="resume",
        usage="resume REASON --totp CODE",
        help="ACTIVE again (the kill switch still wins).",
        min_role=A,
        critical=True,
        min_args=1,
    ),
    CommandSpec(
        name="release",
        usage="release REASON --totp CODE",
        help="Release the kill switch.",
        min_role=A,
        critical=True,
        min_args=1,
    ),
    CommandSpec(
        name="proposals list",
        usage="proposals list [STATUS]",
        help="Change proposals (pending, approved, ...).",
        max_args=1,
    ),
    CommandSpec(
        name="proposals show",
        usage="proposals show ID",
        help="One proposal with its evidence.",
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        name="proposals submit",
        usage="proposals submit KEY=VALUE ... --reason REASON",
        help="Propose a configuration change.",
        min_role=T,
        slow=True,
        min_args=1,
    ),
    CommandSpec(
        name="proposals approve",
        usage="proposals approve ID --totp CODE",
        help="Approve and apply a proposal.",
        min_role=A,
        critical=True,
        slow=True,
        min_args=1,
        max_args=1,
    ),
    CommandSpec(
        name="proposals reject",
        usage="proposals reject ID REASON",
        help="Reject a proposal.",
        min_role=A,
        min_args=2,
    ),
    CommandSpec(
        name="config show",
        usage="config show [N]",
        help="A configuration version (default: active).",
        max_args=1,
    ),
    CommandSpec(name="config history", usage="config history", help="Every version.", max_args=0),
    CommandSpec(
        name="config diff",
        usage="config diff A B",
        help="What changed between two versions.",
        min_args=2,
        max_args=2,
    ),
    CommandSpec(
        name="config rollback",
        usage="config rollback N REASON --totp CODE",
        help="Make version N active again.",
        min_role=A,
        critical=True,
        min_args=2,
    ),
    CommandSpec(
        name="mode live",
        usage="mode live [REASON] --totp CODE",
        help="Confirm live trading (settings and port still decide).",
        min_role=A,
        critical=True,
    ),
    CommandSpec(
        name="mode paper",
        usage="mode paper [REASON]",
        help="Withdraw the live-trading confirmation.",
        min_role=A,
    ),
]
del V, T, A

COMMANDS: Mapping[str, CommandSpec] = MappingProxyType({s.name: s for s in _SPECS})
GROUPS: frozenset[str] = frozenset(s.group for s in _SPECS if " " in s.name)
GROUP_DEFAULTS = {"proposals": "list", "config": "show"}  # `proposals` = `proposals list`


def resolve(command: str, args: Sequence[str]) -> tuple[CommandSpec, list[str]] | None:
    """The spec a command with its arguments names, and the arguments left for it."""
    command = command.strip().lower()
    if " " in command:  # "proposals approve" given as one name
        head, sub = command.split(" ", 1)
        return resolve(head, [sub, *args])
    if command in GROUPS:
        if args and f"{command} {args[0].lower()}" in COMMANDS:
            return COMMANDS[f"{command} {args[0].lower()}"], list(args[1:])
        default = GROUP_DEFAULTS.get(command)
        if not args and default:
            return COMMANDS[f"{command} {default}"], []
        return None
    spec = COMMANDS.get(command)
    return None if spec is None else (spec, list(args))


def group_spec(group: str) -> CommandSpec | None:
    """A group (``proposals``) as one spec: the least role any member needs, critical or
    slow if any member is: what a transport needs before it knows the subcommand."""
    members = [s for s in COMMANDS.values() if s.group == group and " " in s.name]
    if not members:
        return None
    return CommandSpec(
        name=group,
        usage=" | ".join(s.usage for s in members),
        help=f"{group} commands",
        min_role=min((s.min_role for s in members), key=lambda r: r.rank),
        critical=any(s.critical for s in members),
        slow=any(s.slow for s in members),
    )


def arity_problem(spec: CommandSpec, args: Sequence[str]) -> str | None:
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        return f"command={spec.name} args={len(args)} usage={spec.usage!r}"
    return None


class ParsedText(BaseModel):
    model_config = ConfigDict(frozen=True)

    command: str
    args: list[str]
    totp: str | None = None


def parse_text(text: str) -> ParsedText:
    """``"resume all clear --totp 123456"`` → command, args, totp. A leading ``/quorum``
    or ``quorum`` is dropped. Raises ``ValueError`` with a one-line reason."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot parse the command line: {exc}") from None
    if words and words[0].lower() in ("quorum", "/quorum"):
        words = words[1:]
    rest, totp = split_totp(words)
    if not rest:
        raise ValueError("empty command: try `help`")
    return ParsedText(command=rest[0].lower(), args=rest[1:], totp=totp)


def split_totp(words: Sequence[str]) -> tuple[list[str], str | None]:
    """Words without ``--totp CODE`` / ``--totp=CODE``, and the code (the last one given).
    Raises ``ValueError`` for a flag without its code."""
    totp: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        flag, eq, value = words[i].partition("=")
        if flag.lower() in TOTP_FLAGS:
            if not eq:
                if i + 1 >= len(words):
                    raise ValueError(f"{flag} needs a code")
                value = words[i + 1]
                i += 1
            totp = value
        else:
            rest.append(words[i])
        i += 1
    return rest, totp


def redact_args(args: Sequence[str]) -> list[str]:
    """Arguments as they may be audited: a TOTP code (after ``--totp``) and every known
    secret value masked."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        flag, eq, _ = arg.partition("=")
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif flag.lower() in TOTP_FLAGS:
            out.append(f"{flag}={REDACTED}" if eq else flag)
            hide_next = not eq
        else:
            out.append(redact_text(arg))
    return out

"""The console transport: a read-eval-print loop over the operator service, as the local
operator. Lines come from any text stream (a terminal, or a pipe in tests and scripts);
``exit``, ``quit`` or the end of input stop it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from adapters.chat.render import render_text
from workflows.operator import Caller, OperatorService

EXIT_WORDS = frozenset({"exit", "quit", ":q"})
PROMPT = "quorum> "
BANNER = "Quorum operator console: `help` lists your commands, `exit` quits."


async def run_console(
    service: OperatorService,
    caller: Caller,
    stdin: TextIO,
    write: Callable[[str], None],
    *,
    prompt: Callable[[], None] | None = None,
) -> int:
    """Answer each line until ``exit`` or end of input; ``write`` gets each answer (one
    string, no trailing newline), ``prompt`` (a terminal) is called before each read.
    Returns the exit status: 0, or 1 when the caller is not an operator (the refusal,
    audited like every attempt, is written first)."""
    hello = await service.run_text(caller, "whoami")
    if not hello.ok:
        write(render_text(hello))
        return 1
    write(f"{BANNER}\n{hello.message}")
    while True:
        if prompt is not None:
            prompt()
        line = stdin.readline()
        if not line:  # end of input
            break
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower() in EXIT_WORDS:
            break
        write(render_text(await service.run_text(caller, text)))
    return 0

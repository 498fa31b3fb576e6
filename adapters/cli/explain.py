"""`quorum explain ORDER_ID`: the causation chain behind an order, back to the data."""

from __future__ import annotations

from typing import Any

import typer

from adapters.cli.common import EXIT_INVALID, fail, handle_errors, open_store, print_json, settings


def register(app: typer.Typer) -> None:
    app.command(
        "explain",
        help="Explain an order: its causation chain back to bars, tool figures and LLM outputs.",
    )(explain)


@handle_errors
def explain(
    order_id: str = typer.Argument(
        ..., help="Order id, client_ref (as reports show it) or a journal message id."
    ),
    json_out: bool = typer.Option(False, "--json", help="The chain and evidence as JSON."),
) -> None:
    from workflows.explain import NotFoundError
    from workflows.explain import explain as explain_order

    s = settings()
    if s.storage.kind == "sqlite" and not s.sqlite_file.exists():
        # Nothing ran here yet: say so rather than create an empty store to look in.
        raise fail(f"no journal at {s.sqlite_file}: no cycle has run there", EXIT_INVALID)
    store = open_store(s)
    try:
        result = explain_order(store, order_id)
    except NotFoundError as exc:
        raise fail(str(exc), EXIT_INVALID) from None
    finally:
        store.close()
    if json_out:
        print_json(result)
        return
    render_tree(result)


def _label(n: dict[str, Any]) -> str:
    from rich.markup import escape

    llm = n.get("llm")
    cost = (
        f" [magenta](LLM {llm['model']},"
        f" {llm['input_tokens']}+{llm['output_tokens']} tok)[/magenta]"
        if llm
        else ""
    )
    head = f"[bold]{n['sender']}[/bold] [cyan]{n['kind']}[/cyan]"
    return f"{head} {escape(n['says'])}{cost} [dim]{n['id'][:10]}[/dim]"


def render_tree(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.tree import Tree

    title = f"order {result['order_id']} (cycle {result['cycle_id']}, {result['symbol'] or '?'})"
    if result.get("config_version") is not None:
        title += f" on config version {result['config_version']}"
    if result.get("lessons"):
        title += f", lessons cited: {', '.join(result['lessons'])}"
    tree = Tree(f"[bold]{title}[/bold]")
    branch = tree
    for n in result["chain"]:  # newest first: each cause nests under its effect
        branch = branch.add(_label(n))
    evidence = result["evidence"]
    for name, title in (
        ("bars", "bars"),
        ("tool_figures", "tool figures"),
        ("llm_outputs", "LLM outputs"),
    ):
        if evidence[name]:
            sub = tree.add(f"[bold]{title}[/bold] ({len(evidence[name])})")
            for n in evidence[name][:20]:
                sub.add(_label(n))
    Console().print(tree)

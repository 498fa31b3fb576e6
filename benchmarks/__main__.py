"""`make bench`: run every benchmarks/bench_*.py module and record results.

Each module exposes ``run() -> str`` returning a Markdown section (a heading, a table of
measured times and ratios against the reference measured in the same run). Sections are
printed and written to benchmarks/RESULTS.md together with the machine description.
Run one module with ``python -m benchmarks bench_indicators`` (or ``indicators``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks._timing import machine_description

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    if argv:  # full names or short ones: bench_research or research
        names = [n for n in names if n in argv or n.removeprefix("bench_") in argv]
    sections: dict[str, str] = {}
    for name in names:
        print(f"== {name}", flush=True)
        section = importlib.import_module(f"benchmarks.{name}").run()
        print(section, flush=True)
        sections[name] = section
    results = HERE / "RESULTS.md"
    existing = _read_sections(results)
    existing.update(sections)
    body = "\n\n".join(existing[k].strip() for k in sorted(existing))
    results.write_text(
        "# Benchmark results\n\nWritten by `make bench` (`python -m benchmarks`). Every ratio is "
        "against the reference measured in the same run on the same machine.\n\n"
        f"## Machine\n\n{machine_description()}\n\n{body}\n"
    )
    print(f"results written to {results}")
    return 0


def _read_sections(path: Path) -> dict[str, str]:
    """Keep sections of benchmarks not run this time (``<!-- bench:NAME -->`` markers)."""
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if line.startswith("<!-- bench:"):
            current = line.removeprefix("<!-- bench:").removesuffix(" -->").strip()
            out[current] = line + "\n"
        elif current is not None:
            out[current] += line + "\n"
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

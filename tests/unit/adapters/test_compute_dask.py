"""`--scheduler` parsing (the clusters themselves: tests/integration/test_research_dask.py)."""

from __future__ import annotations

import os

import pytest

from adapters.compute.dask import parse_scheduler
from core.errors import ConfigurationError


@pytest.mark.parametrize(
    ("text", "kind", "workers", "address"),
    [
        (None, "inprocess", None, None),
        ("", "inprocess", None, None),
        ("in-process", "inprocess", None, None),
        ("local:2", "local", 2, None),
        ("local", "local", os.cpu_count(), None),
        ("tcp://10.1.2.3:8786", "remote", None, "tcp://10.1.2.3:8786"),
        ("tls://sched.example:8786", "remote", None, "tls://sched.example:8786"),
    ],
)
def test_parse_scheduler_when_valid_then_spec(
    text: str | None, kind: str, workers: int | None, address: str | None
) -> None:
    spec = parse_scheduler(text)
    assert (spec.kind, spec.workers, spec.address) == (kind, workers, address)


@pytest.mark.parametrize(
    "text", ["local:0", "local:x", "local:999", "tcp://host", "http://h:8786", "yarn", "tcp://:1"]
)
def test_parse_scheduler_when_invalid_then_error_names_value(text: str) -> None:
    with pytest.raises(ConfigurationError, match=f"--scheduler {text!r}"):
        parse_scheduler(text)

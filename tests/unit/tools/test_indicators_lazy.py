"""Lazy loading: ``tools`` and ``tools.indicators`` import a kernel module only when used.

What a fresh interpreter has loaded is checked in a subprocess (this process has long
since imported everything).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tools
import tools.indicators as ti
from tools.indicators import _MODULE_OF

ROOT = Path(__file__).resolve().parents[3]


def loaded_after(code: str) -> dict[str, object]:
    """Modules of interest in a fresh interpreter after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps({'tools': sorted(m for m in sys.modules if m.startswith('tools.')),"
        " 'numba': 'numba' in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_import_when_packages_imported_then_no_kernel_module_and_no_numba_loaded() -> None:
    loaded = loaded_after("import tools, tools.indicators; tools.indicators.INDICATOR_NAMES")
    assert loaded == {"tools": ["tools.indicators"], "numba": False}


def test_import_when_one_function_imported_then_only_its_module_is_loaded() -> None:
    loaded = loaded_after("from tools.indicators import atr")
    assert loaded["tools"] == [
        "tools.indicators",
        "tools.indicators._common",
        "tools.indicators._jit",
        "tools.indicators.volatility",
    ]


def test_attribute_when_subpackage_not_imported_then_imported_on_first_use() -> None:
    loaded = loaded_after("import tools; tools.risk_metrics")
    assert loaded["tools"] == ["tools.risk_metrics"]


@pytest.mark.parametrize("name", sorted(_MODULE_OF))
def test_public_name_when_resolved_then_defined_by_its_module(name: str) -> None:
    value = getattr(ti, name)
    assert value.__module__ == f"tools.indicators.{_MODULE_OF[name]}"


def test_all_when_compared_with_module_map_then_same_names() -> None:
    assert set(ti.__all__) == {"INDICATOR_NAMES", *_MODULE_OF}
    assert set(ti.INDICATOR_NAMES) <= set(_MODULE_OF)
    assert set(ti.__all__) <= set(dir(ti))


@pytest.mark.parametrize("package", [tools, ti], ids=["tools", "tools.indicators"])
def test_attribute_when_unknown_then_attribute_error_naming_it(package: object) -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_an_indicator'"):
        getattr(package, "not_an_indicator")  # noqa: B009 - the lookup is the test

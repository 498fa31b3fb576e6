"""Safe (de)serialisation of named NumPy arrays for caches: the ``.npz`` format with
pickling refused both ways, so bytes read back from the network can never run code."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np

from core.bars import BarSeries
from core.errors import DataValidationError

_BAR_COLUMNS = ("timestamps", "open", "high", "low", "close", "volume")


def encode_arrays(arrays: dict[str, Any]) -> bytes:
    """Named arrays → ``.npz`` bytes. Object arrays (which would need pickle) are refused."""
    clean: dict[str, np.ndarray[Any, Any]] = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise DataValidationError(f"array {name!r} has dtype object: refusing to pickle it")
        clean[name] = arr
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **clean)
    return buf.getvalue()


def decode_arrays(data: bytes) -> dict[str, np.ndarray[Any, Any]]:
    """``.npz`` bytes → named arrays; anything else (or a pickled array) is an error."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataValidationError(f"cached bytes are not a safe .npz archive: {exc}") from exc


def bars_to_arrays(series: BarSeries) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(series, name) for name in _BAR_COLUMNS}
    if series.adj_close is not None:
        out["adj_close"] = series.adj_close
    out["symbol"] = np.array(series.symbol)  # a unicode scalar array, no pickle needed
    out["adjusted"] = np.array(series.adjusted)
    return out


def bars_from_arrays(arrays: dict[str, Any]) -> BarSeries:
    """Rebuilt through BarSeries' own validation: a corrupted cache entry cannot pass."""
    missing = [c for c in (*_BAR_COLUMNS, "symbol") if c not in arrays]
    if missing:
        raise DataValidationError(f"cached bars lack {missing}")
    return BarSeries(
        symbol=str(arrays["symbol"]),
        adjusted=bool(arrays.get("adjusted", np.array(False))),
        adj_close=arrays.get("adj_close"),
        **{c: arrays[c] for c in _BAR_COLUMNS},
    )

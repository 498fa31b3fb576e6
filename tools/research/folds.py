"""Walk-forward folds: where each training and test window starts and stops, in bars.

``make_folds`` returns ``int64[F, 4]`` rows ``(train_start, train_stop, test_start,
test_stop)``, half-open ranges with ``train_stop == test_start``:

- The F test windows are consecutive, ``test`` bars each, and the last one ends at the
  last bar (the most recent data is always tested).
- **rolling**: every training window is the ``train`` bars just before its test window.
- **anchored**: every training window starts where the first one starts and grows.
- Defaults: without ``test``, the tests share the bars after the first training window
  equally (``(n - train) // F``), or, without ``train`` either, the series is cut into
  F + 1 equal blocks (``n // (F + 1)``). Without ``train``, the first training window is
  every bar before the first test.

Bars before the first training window (when ``train + F * test < n``) are not used.

A window ``[start, stop)`` is simulated on bars ``start - 1 .. stop - 1`` (``window_bounds``):
bar ``start - 1`` is only the base, its close the starting equity, so that the window's
returns are exactly those of bars ``start .. stop - 1``, its first fill is at bar
``start``'s open (acting on bar ``start - 1``'s signal), and consecutive test windows
chain without a gap. Signals are computed on the whole series first (they only look back).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

MODES = ("anchored", "rolling")
TRAIN_START, TRAIN_STOP, TEST_START, TEST_STOP = 0, 1, 2, 3
MIN_WINDOW = 2


def make_folds(
    n_bars: int, n_folds: int, mode: str, train: int | None = None, test: int | None = None
) -> IntArray:
    """Fold boundaries (see the module docstring); ``ValueError`` names the numbers that
    do not fit."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if n_folds < 1:
        raise ValueError(f"the number of folds must be >= 1, not {n_folds}")
    for name, value in (("train", train), ("test", test)):
        if value is not None and value < MIN_WINDOW:
            raise ValueError(f"{name} must be >= {MIN_WINDOW} bars, not {value}")
    given_test = test is not None
    if test is None:
        test = (n_bars - train) // n_folds if train is not None else n_bars // (n_folds + 1)
    first_test = n_bars - n_folds * test
    train_len = first_test if train is None else train
    if test < MIN_WINDOW or train_len < MIN_WINDOW or train_len > first_test:
        # the fewest bars that would do: the given lengths, MIN_WINDOW for those left out
        need = (train or MIN_WINDOW) + n_folds * (test if given_test else MIN_WINDOW)
        room = f" of {train_len} bars" if train_len > 0 else ""
        raise ValueError(
            f"{n_bars} bars cannot hold {n_folds} test window(s) of {test} bars after a "
            f"training window{room} (need at least {need} bars, each window >= "
            f"{MIN_WINDOW} bars)"
        )
    out = np.empty((n_folds, 4), dtype=np.int64)
    anchor = first_test - train_len
    for k in range(n_folds):
        test_start = first_test + k * test
        out[k, TRAIN_START] = anchor if mode == "anchored" else test_start - train_len
        out[k, TRAIN_STOP] = test_start
        out[k, TEST_START] = test_start
        out[k, TEST_STOP] = test_start + test
    return out


def window_bounds(start: int, stop: int) -> tuple[int, int]:
    """The bars to simulate for window ``[start, stop)``: from the base bar before it
    (none for a window that starts at bar 0)."""
    return max(start - 1, 0), stop

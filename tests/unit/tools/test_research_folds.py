"""Walk-forward fold boundaries: anchored and rolling, defaults, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.research.folds import make_folds, window_bounds


def test_make_folds_when_defaults_then_equal_blocks_and_last_test_ends_at_last_bar() -> None:
    f = make_folds(600, 5, "anchored")
    assert f.tolist() == [
        [0, 100, 100, 200], [0, 200, 200, 300], [0, 300, 300, 400], [0, 400, 400, 500],
        [0, 500, 500, 600],
    ]  # fmt: skip
    r = make_folds(600, 5, "rolling")
    assert r[:, 0].tolist() == [0, 100, 200, 300, 400]
    assert (r[:, 1] - r[:, 0]).tolist() == [100] * 5


def test_make_folds_when_train_and_test_given_then_used_and_leading_bars_unused() -> None:
    r = make_folds(1000, 3, "rolling", train=250, test=100)
    assert r.tolist() == [[450, 700, 700, 800], [550, 800, 800, 900], [650, 900, 900, 1000]]
    a = make_folds(1000, 3, "anchored", train=250, test=100)
    assert a[:, 0].tolist() == [450, 450, 450]
    assert a[0, 1] - a[0, 0] == 250


def test_make_folds_when_only_train_given_then_rest_shared_by_tests() -> None:
    f = make_folds(1003, 4, "anchored", train=200)
    assert (f[:, 3] - f[:, 2]).tolist() == [200] * 4
    assert f[-1, 3] == 1003 and f[0, 0] == 3  # 3 leftover bars before the first window


def test_make_folds_when_only_test_given_then_first_train_is_everything_before() -> None:
    f = make_folds(1000, 2, "rolling", test=300)
    assert f.tolist() == [[0, 400, 400, 700], [300, 700, 700, 1000]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bars": 100, "n_folds": 0, "mode": "anchored"}, "folds must be >= 1"),
        ({"n_bars": 100, "n_folds": 2, "mode": "sideways"}, "mode must be one of"),
        ({"n_bars": 100, "n_folds": 2, "mode": "rolling", "train": 1}, "train must be >= 2"),
        ({"n_bars": 100, "n_folds": 2, "mode": "rolling", "test": 1}, "test must be >= 2"),
        ({"n_bars": 100, "n_folds": 2, "mode": "rolling", "train": 60, "test": 30},
         "need at least 120 bars"),
        ({"n_bars": 5, "n_folds": 4, "mode": "anchored"}, "cannot hold 4 test window"),
        # too short for 2-bar windows: the count is what would fit, not the bars given
        ({"n_bars": 11, "n_folds": 5, "mode": "anchored"}, "11 bars .*need at least 12 bars"),
        ({"n_bars": 11, "n_folds": 5, "mode": "rolling", "train": 6},
         "need at least 16 bars"),
        ({"n_bars": 40, "n_folds": 5, "mode": "rolling", "test": 10},
         r"after a training window \(need at least 52 bars"),
    ],
)  # fmt: skip
def test_make_folds_when_they_do_not_fit_then_value_error_names_numbers(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_folds(**kwargs)  # type: ignore[arg-type]


def test_window_bounds_when_start_positive_then_includes_base_bar() -> None:
    assert window_bounds(100, 200) == (99, 200)
    assert window_bounds(0, 50) == (0, 50)


@given(
    n=st.integers(10, 5000),
    folds=st.integers(1, 12),
    mode=st.sampled_from(["anchored", "rolling"]),
    train=st.one_of(st.none(), st.integers(2, 2000)),
    test=st.one_of(st.none(), st.integers(2, 800)),
)
def test_make_folds_when_they_fit_then_consecutive_tests_and_no_look_ahead(
    n: int, folds: int, mode: str, train: int | None, test: int | None
) -> None:
    try:
        f = make_folds(n, folds, mode, train, test)
    except ValueError:
        return
    assert f.shape == (folds, 4) and f.dtype == np.int64
    assert f[-1, 3] == n
    assert np.all(f[:, 1] == f[:, 2])  # each test starts where its training ends
    assert np.all(f[1:, 2] == f[:-1, 3])  # consecutive test windows
    assert np.all(f[:, 0] >= 0) and np.all(f[:, 1] - f[:, 0] >= 2)
    assert len(set((f[:, 3] - f[:, 2]).tolist())) == 1
    if mode == "anchored":
        assert len(set(f[:, 0].tolist())) == 1
    else:
        assert len(set((f[:, 1] - f[:, 0]).tolist())) == 1

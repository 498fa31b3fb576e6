"""Overfitting statistics: probabilistic and deflated Sharpe ratios, and the probability of
backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Conventions:

- Sharpe ratios here are **per period** (per bar: mean / sample std of simple returns,
  ddof=1), not annualised: the formulas below are in those units. Multiply by
  ``sqrt(periods_per_year)`` to annualise for display.
- ``skew`` and ``kurtosis`` are the sample (biased, moment) estimates of the returns:
  ``m3 / m2**1.5`` and ``m4 / m2**2``; ``kurtosis`` is *not* excess (3 for a normal).
- **PSR** (Bailey & López de Prado 2012, "The Sharpe ratio efficient frontier"):
  ``PSR(SR*) = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - skew*SR + (kurt - 1)/4 * SR**2))``
  with T the number of returns: the probability that the true Sharpe exceeds SR*.
- **DSR** (Bailey & López de Prado 2014, "The deflated Sharpe ratio"): the PSR against
  the Sharpe the best of N unskilled trials would show,
  ``SR0 = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))``,
  with V the variance of the N trials' Sharpe ratios (ddof=1) and g the Euler-Mascheroni
  constant. One trial: SR0 = 0 (nothing was selected), DSR = PSR(0).
- **PBO** (Bailey, Borwein, López de Prado & Zhu 2015, "The probability of backtest
  overfitting"): split the T × N matrix of trial returns into S blocks of rows; for each
  of the C(S, S/2) ways to pick half the blocks as in-sample (IS), the IS-best trial's
  out-of-sample (OOS) Sharpe is ranked among all trials' OOS Sharpe, ``w = rank / (N + 1)``
  (rank 1 = worst, ties averaged), ``logit = ln(w / (1 - w))``; PBO is the share of
  logits <= 0: how often the IS winner is no better than the OOS median.

Pure NumPy/Numba: arrays and scalars in, scalars and arrays out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from tools.risk_metrics import normal_quantile

FloatArray = npt.NDArray[np.float64]
# C(24, 12) = 2,704,156 splits (three float64 arrays of that length, seconds per symbol);
# each 2 more blocks multiply the splits by about 4, and past S = 66 the count overflows int64.
MAX_CSCV_BLOCKS = 24

EULER_GAMMA = 0.5772156649015329


class ReturnMoments(NamedTuple):
    """Per-period Sharpe, skewness, kurtosis (not excess) and the number of returns."""

    sharpe: float
    skew: float
    kurtosis: float
    n_obs: int


class PBOResult(NamedTuple):
    """``pbo`` in [0, 1] (NaN if no combination had a finite IS winner); per combination:
    the logit of the IS winner's OOS rank, its IS and OOS Sharpe (per period)."""

    pbo: float
    logits: FloatArray
    is_sharpe: FloatArray
    oos_sharpe: FloatArray
    n_combinations: int
    prob_oos_loss: float


@njit(cache=True)
def _moments(returns: FloatArray) -> tuple[float, float, float]:
    n = returns.shape[0]
    if n < 2:
        return np.nan, np.nan, np.nan
    # Shifted by the first value so that constant returns give exactly m2 = 0.
    shift = returns[0]
    mean = 0.0
    for x in returns:
        mean += x - shift
    mean /= n
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for x in returns:
        d = x - shift - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    m2 /= n
    m3 /= n
    m4 /= n
    if not m2 > 0.0 or not math.isfinite(m2):
        return np.nan, np.nan, np.nan
    sd = math.sqrt(m2 * n / (n - 1))
    return (mean + shift) / sd, m3 / m2**1.5, m4 / (m2 * m2)


def return_moments(returns: npt.ArrayLike) -> ReturnMoments:
    """Sharpe (per period), skewness and kurtosis of a return series; NaN when the
    returns are constant, fewer than two or not finite."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be 1-D, got shape {r.shape}")
    sharpe, skew, kurt = _moments(r)
    return ReturnMoments(float(sharpe), float(skew), float(kurt), int(r.shape[0]))


@njit(cache=True)
def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@njit(cache=True)
def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """PSR: probability that the true per-period Sharpe exceeds ``benchmark`` given an
    estimate ``sharpe`` from ``n_obs`` returns with this skewness and (non-excess)
    kurtosis. NaN when undefined (n_obs < 2, a non-finite input, or a non-positive
    variance term, which only extreme skew can give)."""
    if n_obs < 2 or not (
        math.isfinite(sharpe)
        and math.isfinite(benchmark)
        and math.isfinite(skew)
        and math.isfinite(kurtosis)
    ):
        return np.nan
    var_term = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not var_term > 0.0:
        return np.nan
    return _norm_cdf((sharpe - benchmark) * math.sqrt(n_obs - 1.0) / math.sqrt(var_term))


@njit(cache=True)
def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected maximum per-period Sharpe of ``n_trials`` unskilled trials whose
    Sharpe estimates have this variance (the False Strategy theorem). 0 for one trial."""
    if n_trials < 1 or not (variance >= 0.0 and math.isfinite(variance)):
        return np.nan
    if n_trials == 1:
        return 0.0
    n = float(n_trials)
    # Phi^-1(1 - q) = -Phi^-1(q): exact for small q, whereas 1 - q would round.
    z1 = -normal_quantile(1.0 / n)
    z2 = -normal_quantile(1.0 / (n * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


@njit(cache=True)
def deflated_sharpe(
    sharpe: float, n_trials: int, trials_variance: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """DSR: PSR of the selected trial's per-period ``sharpe`` against
    ``expected_max_sharpe(n_trials, trials_variance)``."""
    sr0 = expected_max_sharpe(n_trials, trials_variance)
    return probabilistic_sharpe(sharpe, sr0, n_obs, skew, kurtosis)


def trials_variance(trial_sharpes: npt.ArrayLike) -> float:
    """Sample variance (ddof=1) of the trials' finite per-period Sharpe ratios; trials
    with an undefined Sharpe (no trade, flat equity) are left out. 0 for fewer than 2."""
    s = np.asarray(trial_sharpes, dtype=np.float64)
    finite = s[np.isfinite(s)]
    return float(np.var(finite, ddof=1)) if finite.size >= 2 else 0.0


# ---------------------------------------------------------------- CSCV / PBO


@njit(cache=True)
def _block_sums(returns: FloatArray, n_blocks: int) -> tuple[FloatArray, FloatArray, int]:
    """Per-block sums and sums of squares ``[S, N]``; the first ``T mod S`` rows are left
    out so every block has the same length (the most recent data is kept)."""
    n_rows, n_cols = returns.shape
    length = n_rows // n_blocks
    skip = n_rows - length * n_blocks
    sums = np.zeros((n_blocks, n_cols))
    sumsq = np.zeros((n_blocks, n_cols))
    for b in range(n_blocks):
        for t in range(skip + b * length, skip + (b + 1) * length):
            for n in range(n_cols):
                x = returns[t, n]
                sums[b, n] += x
                sumsq[b, n] += x * x
    return sums, sumsq, length


@njit(cache=True)
def _sharpe_from_sums(total: float, total_sq: float, inv_n: float, inv_n1: float) -> float:
    """Per-period Sharpe (ddof=1) from a sum and a sum of squares of n values
    (``inv_n = 1/n``, ``inv_n1 = 1/(n-1)``: no division in the hot loop); -inf when
    undefined, so that an undefined trial never wins and ranks last."""
    mean = total * inv_n
    var = (total_sq - total * mean) * inv_n1
    if not var > 1e-12 * total_sq * inv_n or not math.isfinite(var):
        return -np.inf
    return mean / math.sqrt(var)


@njit(cache=True)
def _cscv(
    sums: FloatArray, sumsq: FloatArray, length: int, n_comb: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n_blocks, n_cols = sums.shape
    half = n_blocks // 2
    total = np.zeros(n_cols)
    total_sq = np.zeros(n_cols)
    for b in range(n_blocks):
        for n in range(n_cols):
            total[n] += sums[b, n]
            total_sq[n] += sumsq[b, n]
    logits = np.empty(n_comb)
    is_best = np.empty(n_comb)
    oos_best = np.empty(n_comb)
    combo = np.arange(half)
    is_sum = np.empty(n_cols)
    is_sq = np.empty(n_cols)
    oos_sr = np.empty(n_cols)
    count = half * length
    inv_n, inv_n1 = 1.0 / count, 1.0 / (count - 1)
    for c in range(n_comb):
        is_sum[:] = 0.0
        is_sq[:] = 0.0
        for k in range(half):
            for n in range(n_cols):
                is_sum[n] += sums[combo[k], n]
                is_sq[n] += sumsq[combo[k], n]
        best = -1
        best_sr = -np.inf
        for n in range(n_cols):
            sr = _sharpe_from_sums(is_sum[n], is_sq[n], inv_n, inv_n1)
            if sr > best_sr:
                best_sr = sr
                best = n
            oos_sr[n] = _sharpe_from_sums(
                total[n] - is_sum[n], total_sq[n] - is_sq[n], inv_n, inv_n1
            )
        if best < 0:
            logits[c] = np.nan
            is_best[c] = np.nan
            oos_best[c] = np.nan
        else:
            x = oos_sr[best]
            below = 0
            ties = 0
            for n in range(n_cols):
                if n != best:
                    if oos_sr[n] < x:
                        below += 1
                    elif oos_sr[n] == x:
                        ties += 1
            rank = below + 1.0 + ties / 2.0
            w = rank / (n_cols + 1.0)
            logits[c] = math.log(w / (1.0 - w))
            is_best[c] = best_sr
            oos_best[c] = x if math.isfinite(x) else np.nan
        # next combination in lexicographic order
        i = half - 1
        while i >= 0 and combo[i] == n_blocks - half + i:
            i -= 1
        if i >= 0:
            combo[i] += 1
            for j in range(i + 1, half):
                combo[j] = combo[j - 1] + 1
    return logits, is_best, oos_best


def pbo_cscv(returns: npt.ArrayLike, n_blocks: int = 16) -> PBOResult:
    """PBO of choosing the best of N trials by Sharpe, from ``returns[T, N]`` (one column
    per trial, one row per period, all trials on the same periods).

    ``n_blocks`` (S) must be even, 2..``MAX_CSCV_BLOCKS``, and each block needs at least
    2 rows.
    ``prob_oos_loss`` is the share of combinations whose IS winner lost OOS (Sharpe < 0).
    """
    m = np.ascontiguousarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"returns must be [periods, trials], got shape {m.shape}")
    if n_blocks < 2 or n_blocks % 2 or n_blocks > MAX_CSCV_BLOCKS:
        raise ValueError(f"n_blocks must be even, 2..{MAX_CSCV_BLOCKS}, got {n_blocks}")
    if m.shape[1] < 2:
        raise ValueError(f"PBO needs at least 2 trials, got {m.shape[1]}")
    if m.shape[0] // n_blocks < 2:
        raise ValueError(
            f"{m.shape[0]} periods are too few for {n_blocks} blocks (need >= {2 * n_blocks})"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError("returns must be finite")
    sums, sumsq, length = _block_sums(m, n_blocks)
    n_comb = math.comb(n_blocks, n_blocks // 2)
    logits, is_sr, oos_sr = _cscv(sums, sumsq, length, n_comb)
    finite = logits[np.isfinite(logits)]
    pbo = float(np.mean(finite <= 0.0)) if finite.size else float("nan")
    decided = oos_sr[np.isfinite(is_sr)]
    loss = float(np.mean(~(decided >= 0.0))) if decided.size else float("nan")
    return PBOResult(pbo, logits, is_sr, oos_sr, n_comb, loss)

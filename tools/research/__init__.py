"""Research kernels: walk-forward folds, grid backtests that keep every trial's returns,
and the overfitting statistics (deflated Sharpe, PBO by CSCV). Arrays in, arrays out;
the orchestration (typed results, executors) is ``workflows.research``."""

"""Shared trading state: kill switch and ACTIVE / REDUCING / HALTED, locks, rate limiters
and array caches — in memory for one process, in Redis for several."""

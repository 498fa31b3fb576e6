"""Contract look-up: TWS contract details to the one listing an order should route to.

US stocks route SMART with their primary exchange; Euronext Paris stocks trade on SBF in
EUR. An ISIN can come back with several listings (Paris, Xetra, Madrid...): the
instrument's primary exchange and currency pick one, or the error names the candidates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from adapters.brokers.ibkr.client import ContractRef, IbClient
from adapters.brokers.ibkr.config import IbkrConfig
from adapters.brokers.ibkr.pacing import Pacer
from core.errors import OrderError, TemporaryError
from core.instruments import Instrument

PACING_CODE = 100


class ContractNotFoundError(OrderError):
    """TWS has no listing matching the instrument."""


class AmbiguousContractError(OrderError):
    """Several listings match and nothing in the instrument picks one."""


def pick_listing(instrument: Instrument, candidates: list[ContractRef]) -> ContractRef:
    """The one candidate on the instrument's primary exchange in its currency."""
    matches = [
        r
        for r in candidates
        if r.primary_exchange == instrument.primary_exchange and r.currency == instrument.currency
    ]
    named = ", ".join(f"{r.symbol}@{r.primary_exchange}/{r.currency}" for r in candidates)
    if not matches:
        isin = f" ISIN {instrument.isin}" if instrument.isin else ""
        raise ContractNotFoundError(
            f"{instrument.key} {instrument.currency}{isin}: no listing matches"
            f" (TWS returned: {named or 'nothing'})"
        )
    if len(matches) > 1:
        raise AmbiguousContractError(f"{instrument.key}: several listings match: {named}")
    return matches[0]


class ContractResolver:
    def __init__(
        self,
        client: IbClient,
        pacer: Pacer,
        config: IbkrConfig,
        backoff: Callable[[int, float, float], float],
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.config = config
        self.backoff = backoff
        self.known: dict[str, ContractRef] = {}

    async def details(
        self,
        *,
        symbol: str = "",
        exchange: str = "",
        primary_exchange: str = "",
        currency: str = "",
        isin: str = "",
    ) -> list[ContractRef]:
        """Every listing TWS returns; pacing errors (100) are retried with backoff."""
        c = self.config
        for attempt in range(c.pacing_retries + 1):
            await self.pacer.message()
            try:
                return await self.client.contract_details(
                    symbol=symbol,
                    exchange=exchange,
                    primary_exchange=primary_exchange,
                    currency=currency,
                    isin=isin,
                    timeout=c.request_timeout_s,
                )
            except TemporaryError as exc:
                if exc.broker_code != PACING_CODE or attempt == c.pacing_retries:
                    raise
                await asyncio.sleep(self.backoff(attempt, c.pacing_backoff_s, 30.0))
        raise AssertionError("unreachable")

    async def qualify(self, instrument: Instrument) -> ContractRef:
        if instrument.isin:
            candidates = await self.details(isin=instrument.isin)
        else:
            candidates = await self.details(
                symbol=instrument.symbol,
                exchange="SMART",
                primary_exchange=instrument.primary_exchange,
                currency=instrument.currency,
            )
        ref = pick_listing(instrument, candidates)
        self.known[ref.symbol] = self.known[instrument.symbol] = ref
        return ref

    async def for_symbol(self, symbol: str) -> ContractRef:
        """The listing to route ``symbol`` to: qualified before, or unique at TWS."""
        known = self.known.get(symbol)
        if known is not None:
            return known
        refs = await self.details(symbol=symbol, exchange="SMART")
        if len(refs) != 1:
            raise OrderError(f"{symbol}: {len(refs)} listings at TWS; qualify the instrument first")
        self.known[symbol] = refs[0]
        return refs[0]

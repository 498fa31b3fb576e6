"""TWS's account views turned into ours: which account, its positions, its summary."""

from __future__ import annotations

from adapters.brokers.ibkr.client import IbClient
from adapters.brokers.ibkr.translate import ACCOUNT_TAGS
from core.errors import ConfigurationError, TemporaryError
from core.portfolio import Position
from core.ports import AccountSummary


def account_id(client: IbClient, configured: str) -> str:
    """The account the views read: the configured one, else the only managed one."""
    managed = client.accounts()
    if configured or len(managed) <= 1:
        return configured or (managed[0] if managed else "")
    raise ConfigurationError(
        f"TWS manages several accounts ({', '.join(managed)}): set broker.ibkr.account"
    )


def positions(client: IbClient, account: str) -> list[Position]:
    return [
        Position(
            symbol=p.symbol,
            quantity=round(p.quantity),
            avg_price=p.avg_cost,
            last_price=p.market_price,
        )
        for p in client.positions(account)
        if p.quantity
    ]


def account_summary(values: dict[tuple[str, str], str]) -> AccountSummary:
    """Cash, equity and buying power in the account's base currency (the currency its
    NetLiquidation is reported in)."""
    base = next((cur for (tag, cur) in values if tag == "NetLiquidation" and cur), "")
    found = {name: values.get((tag, base)) for name, tag in ACCOUNT_TAGS.items()}
    if not base or any(v is None for v in found.values()):
        raise TemporaryError("account values not received from TWS yet")
    return AccountSummary(currency=base, **{k: float(v) for k, v in found.items()})  # type: ignore[arg-type]

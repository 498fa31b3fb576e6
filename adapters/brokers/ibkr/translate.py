"""Plain tables from IB's vocabulary to ours. No logic beyond look-ups lives here."""

from __future__ import annotations

from enum import StrEnum

from core.orders import OrderEvent, OrderSide, OrderType


class IbErrorClass(StrEnum):
    CONNECTIVITY_LOST = "connectivity_lost"
    CONNECTIVITY_RESTORED = "connectivity_restored"
    FARM_STATUS = "farm_status"  # market-data farm up/down: informational for orders
    ORDER_REJECTED = "order_rejected"
    CANNOT_CANCEL = "cannot_cancel"
    PACING = "pacing"
    CLIENT_ID_IN_USE = "client_id_in_use"
    NO_CONTRACT = "no_contract"
    ORPHANED_LEG = "orphaned_leg"  # a bracket leg whose parent TWS does not have
    INFO = "info"
    OTHER = "other"


ERROR_CLASSES: dict[int, IbErrorClass] = {
    1100: IbErrorClass.CONNECTIVITY_LOST,  # TWS <-> IB servers lost
    2110: IbErrorClass.CONNECTIVITY_LOST,  # TWS <-> server broken, restored automatically
    1101: IbErrorClass.CONNECTIVITY_RESTORED,  # restored, data lost: resubscribe
    1102: IbErrorClass.CONNECTIVITY_RESTORED,  # restored, data maintained
    2103: IbErrorClass.FARM_STATUS,  # market data farm connection broken
    2104: IbErrorClass.FARM_STATUS,  # market data farm connection OK
    201: IbErrorClass.ORDER_REJECTED,
    203: IbErrorClass.ORDER_REJECTED,  # security not available/allowed for this account
    10147: IbErrorClass.CANNOT_CANCEL,  # order to cancel not found
    10148: IbErrorClass.CANNOT_CANCEL,  # order cannot be cancelled in its state
    100: IbErrorClass.PACING,
    326: IbErrorClass.CLIENT_ID_IN_USE,
    200: IbErrorClass.NO_CONTRACT,
    135: IbErrorClass.ORPHANED_LEG,
    399: IbErrorClass.INFO,  # order message warning (e.g. outside trading hours): it stands
}


def classify_error(code: int) -> IbErrorClass:
    known = ERROR_CLASSES.get(code)
    if known is not None:
        return known
    if 2100 <= code < 2200:
        return IbErrorClass.INFO  # IB's own "warning" band
    return IbErrorClass.OTHER


# IB order status -> the event it means for our state machine (None: fills decide).
STATUS_EVENTS: dict[str, OrderEvent | None] = {
    "PendingSubmit": None,
    "ApiPending": None,
    "PreSubmitted": OrderEvent.SUBMIT,
    "Submitted": OrderEvent.SUBMIT,
    "PendingCancel": None,
    "ValidationError": None,
    "ApiCancelled": OrderEvent.CANCEL,
    "Cancelled": OrderEvent.CANCEL,
    "Inactive": OrderEvent.REJECT,
    "Filled": None,
}
PENDING_STATUSES = frozenset({"PendingSubmit", "ApiPending"})
WORKING_STATUSES = frozenset({"PreSubmitted", "Submitted", "PendingCancel"})
LIVE_STATUSES = frozenset({"PreSubmitted", "Submitted"})  # working on the terms shown
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})

ORDER_TYPES: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
}
ORDER_TYPES_FROM_IB: dict[str, OrderType] = {v: k for k, v in ORDER_TYPES.items()}

ACTIONS: dict[OrderSide, str] = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}
SIDES_FROM_IB: dict[str, OrderSide] = {
    "BUY": OrderSide.BUY,
    "SELL": OrderSide.SELL,
    "BOT": OrderSide.BUY,  # execution sides
    "SLD": OrderSide.SELL,
}
OPPOSITE: dict[OrderSide, OrderSide] = {
    OrderSide.BUY: OrderSide.SELL,
    OrderSide.SELL: OrderSide.BUY,
}

# Account-value tags we read, in the account's base currency.
ACCOUNT_TAGS = {"cash": "TotalCashValue", "equity": "NetLiquidation", "buying_power": "BuyingPower"}

# Suffixes of the orderRef of a bracket's children; the parent carries the bare client_ref.
TAKE_PROFIT_SUFFIX = "#tp"
STOP_LOSS_SUFFIX = "#sl"

"""Outgoing TWS messages, field by field, for server version 176.

Each function returns the field list of one message. The order and count of fields
follow ib_async 2.1.0's ``decoder.py`` for this version exactly (version < 177 still
carries ``faProfile``; >= 170 carries the five peg fields; < 178 has no
``pendingPriceRevision``). Empty strings mean "unset", which the decoder reads as the
dataclass default.
"""

from __future__ import annotations

from adapters.brokers.ibkr_sim.book import SimExecution, SimOrder
from adapters.brokers.ibkr_sim.catalog import Listing
from adapters.brokers.ibkr_sim.protocol import ib_time

Fields = list[object]


def _contract_short(c: Listing, exchange: str) -> Fields:
    """conId .. tradingClass without primaryExchange (execDetails, openOrder, position)."""
    return [c.con_id, c.symbol, c.sec_type, "", 0.0, "", "", exchange, c.currency, c.symbol,
            c.trading_class]  # fmt: skip


def _price(value: float | None) -> object:
    return "" if value is None else value


def managed_accounts(account: str) -> Fields:
    return [15, 1, account]


def next_valid_id(order_id: int) -> Fields:
    return [9, 1, order_id]


def current_time(epoch: int) -> Fields:
    return [49, 1, epoch]


def error(req_id: int, code: int, text: str) -> Fields:
    return [4, 2, req_id, code, text, ""]  # advancedOrderRejectJson since 166


def contract_details(req_id: int, c: Listing, exchange: str) -> Fields:
    valid = "SMART," + c.exchange
    return [
        10, req_id, c.symbol, c.sec_type, "", 0.0, "", exchange, c.currency, c.symbol,
        c.trading_class, c.trading_class, c.con_id, c.min_tick,
        "", "ACTVTIM,AD,ADJUST,ALERT,ALLOC,LMT,MKT,STP,STPLMT,TRAIL", valid, 1, 0,
        c.long_name, c.primary_exchange, "", "", "", "", c.time_zone, "", "", "", "",
        1, "ISIN", c.isin,  # secIdList
        1, "", "", "26", "", "COMMON", 1.0, 1.0, 1.0,
    ]  # fmt: skip


def contract_details_end(req_id: int) -> Fields:
    return [52, 1, req_id]


def order_status(o: SimOrder) -> Fields:
    return [3, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id,
            o.parent_id, o.last_fill_price, o.client_id, "", 0.0]  # fmt: skip


def open_order(o: SimOrder) -> Fields:
    head: Fields = [5, o.order_id, *_contract_short(o.listing, "SMART")]
    head += [o.action, o.quantity, o.order_type, _price(o.lmt_price), _price(o.aux_price), o.tif,
             o.oca_group, o.account, "O", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0.0,
             "", "", "", "", "", ""]  # fmt: skip
    middle: Fields = [""] * 19 + [o.oca_type, "", "", ""]  # modelCode .. nbboPriceCap
    middle += [o.parent_id, 0, "", "", "", ""]  # parentId .. deltaNeutralAuxPrice
    assert len(middle) == 29
    tail: Fields = ["", "", "", "", "", "", ""]  # continuousUpdate..comboLegsDescrip
    tail += [0, 0, 0]  # combo legs, order combo legs, smart combo params
    tail += ["", "", ""]  # scale sizes and increment
    tail += [""]  # hedgeType
    tail += [0, "", "", 0, 0]  # optOutSmartRouting, clearing x2, notHeld, no delta neutral
    tail += [""]  # algoStrategy
    tail += [0, 0, o.status] + [""] * 14 + [0, 0]  # solicited, whatIf, state, randomize x2
    tail += [0]  # conditions
    tail += [""] * 16  # adjusted order fields .. usePriceMgmtAlgo
    tail += ["", "", ""]  # duration, postToAts, autoCancelParent
    tail += [""] * 5  # minTradeQty .. midOffsetAtHalf
    return head + middle + tail


def open_order_end() -> Fields:
    return [53, 1]


def completed_order(o: SimOrder) -> Fields:
    head: Fields = [101, *_contract_short(o.listing, "SMART")]
    head += [o.action, o.quantity, o.order_type, _price(o.lmt_price), _price(o.aux_price), o.tif,
             o.oca_group, o.account, "O", 0, o.order_ref, o.perm_id, 0, 0, 0.0, "", "", "", "",
             ""]  # fmt: skip
    middle: Fields = [""] * 17 + [o.oca_type] + [""] * 5  # modelCode .. deltaNeutralAux
    tail: Fields = ["", "", "", "", ""]  # continuousUpdate .. comboLegsDescrip
    tail += [0, 0, 0, "", "", "", ""]  # legs x3, scale x3, hedgeType
    tail += ["", "", 0, 0, ""]  # clearing x2, notHeld, no delta neutral, algoStrategy
    tail += [0, o.status, 0, 0, 0]  # solicited, status, randomize x2, conditions
    tail += ["", "", "", 0, 0, "", o.filled, "", 0, "", 0, 0, "", o.completed_time,
             o.completed_status]  # fmt: skip
    tail += [""] * 5
    return head + middle + tail


def completed_orders_end() -> Fields:
    return [102]


def exec_details(req_id: int, e: SimExecution) -> Fields:
    return [11, req_id, e.order_id, *_contract_short(e.listing, e.listing.exchange), e.exec_id,
            e.time, e.account, e.listing.exchange, e.side, e.shares, e.price, e.perm_id,
            e.client_id, 0, e.cum_qty, e.avg_price, e.order_ref, "", "", "", 1]  # fmt: skip


def exec_details_end(req_id: int) -> Fields:
    return [55, 1, req_id]


def commission_report(e: SimExecution) -> Fields:
    return [59, 1, e.exec_id, e.commission, e.currency, "", "", ""]


def position(account: str, c: Listing, quantity: float, avg_cost: float) -> Fields:
    return [61, 3, account, *_contract_short(c, c.exchange), quantity, avg_cost]


def position_end() -> Fields:
    return [62, 1]


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    return [6, 2, key, value, currency, account]


def portfolio_value(
    c: Listing, quantity: float, mark: float, avg_cost: float, account: str
) -> Fields:
    value = quantity * mark
    unrealized = value - quantity * avg_cost
    return [7, 8, c.con_id, c.symbol, c.sec_type, "", 0.0, "", "", c.primary_exchange, c.currency,
            c.symbol, c.trading_class, quantity, mark, value, avg_cost, unrealized, 0.0,
            account]  # fmt: skip


def account_time() -> Fields:
    return [8, 1, ib_time()[9:14]]


def account_download_end(account: str) -> Fields:
    return [54, 1, account]


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> Fields:
    return [73, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [74, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    return [63, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    return [64, 1, req_id]

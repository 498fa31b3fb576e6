"""The only module that imports ib_async. IB's camelCase objects stop here: everything
that leaves this module is a plain frozen dataclass with snake_case fields.

``IbClient`` owns one ``ib_async.IB`` and forwards its events to plain callbacks. It
knows nothing of our orders; ``broker.py`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ib_async import (
    IB,
    BarDataList,
    Contract,
    ExecutionFilter,
    Fill,
    Order,
    RequestError,
    StartupFetchALL,
    StartupFetchNONE,
    Trade,
)
from ib_async.util import UNSET_DOUBLE

from core.errors import QuorumError, TemporaryError

PACING_CODE = 100
CLIENT_ID_IN_USE_CODE = 326


class ClientIdInUseError(TemporaryError):
    """TWS refused the handshake with 326: another session holds this client id."""


class RequestRefusedError(QuorumError):
    """TWS answered a request with an error; ``broker_code`` is IB's (162, 200, ...)."""

    def __init__(self, message: str, *, broker_code: int) -> None:
        super().__init__(message)
        self.broker_code = broker_code


@dataclass(frozen=True)
class BarView:
    day: date  # formatDate=1 daily bars come back as dates
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class ContractRef:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str = ""
    isin: str | None = None
    long_name: str = ""


@dataclass(frozen=True)
class OrderSpec:
    action: str  # BUY / SELL
    quantity: int
    order_type: str  # MKT / LMT / STP
    limit_price: float | None = None
    stop_price: float | None = None
    tif: str = "DAY"
    order_ref: str = ""
    oca_group: str = ""  # one-cancels-other group (bracket legs)
    oca_type: int = 0  # IB ocaType; 0 = not in a group


@dataclass(frozen=True)
class TradeView:
    order_id: int
    client_id: int
    perm_id: int
    order_ref: str
    symbol: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    stop_price: float | None
    tif: str
    status: str
    filled: float
    avg_fill_price: float
    error_code: int = 0
    error_text: str = ""
    completed_status: str = ""


@dataclass(frozen=True)
class ExecView:
    exec_id: str
    order_ref: str
    order_id: int
    perm_id: int
    symbol: str
    currency: str
    side: str  # BOT / SLD
    shares: float
    price: float
    time: datetime
    commission: float | None = None


@dataclass(frozen=True)
class PositionView:
    account: str
    symbol: str
    con_id: int
    currency: str
    quantity: float
    avg_cost: float
    market_price: float = 0.0


@dataclass
class ClientCallbacks:
    on_status: Callable[[TradeView], None] = lambda view: None
    on_execution: Callable[[ExecView], None] = lambda view: None
    on_commission: Callable[[str, float], None] = lambda exec_id, commission: None
    on_error: Callable[[int, int, str], None] = lambda req_id, code, text: None
    on_disconnected: Callable[[], None] = lambda: None


def _price(value: object) -> float | None:
    if value is None or value in ("", UNSET_DOUBLE):
        return None
    return float(value)  # type: ignore[arg-type]


def _trade_view(trade: Trade, completed: dict[int, str]) -> TradeView:
    o, st = trade.order, trade.orderStatus
    last = trade.log[-1] if trade.log else None
    filled_qty = o.filledQuantity if o.filledQuantity not in (None, UNSET_DOUBLE) else 0.0
    return TradeView(
        order_id=o.orderId,
        client_id=o.clientId,
        perm_id=o.permId or st.permId,
        order_ref=o.orderRef or "",
        symbol=trade.contract.symbol,
        action=o.action,
        quantity=float(o.totalQuantity),
        order_type=o.orderType,
        limit_price=_price(o.lmtPrice),
        stop_price=_price(o.auxPrice),
        tif=o.tif or "DAY",
        status=st.status,
        filled=max(float(st.filled), float(filled_qty)),
        avg_fill_price=float(st.avgFillPrice),
        error_code=last.errorCode if last else 0,
        error_text=last.message if last else "",
        completed_status=completed.get(o.permId or st.permId, ""),
    )


def _exec_view(fill: Fill) -> ExecView:
    ex, report = fill.execution, fill.commissionReport
    has_commission = bool(report.execId)
    return ExecView(
        exec_id=ex.execId,
        order_ref=ex.orderRef or "",
        order_id=ex.orderId,
        perm_id=ex.permId,
        symbol=fill.contract.symbol,
        currency=fill.contract.currency,
        side=ex.side,
        shares=float(ex.shares),
        price=float(ex.price),
        time=ex.time if ex.time.tzinfo else ex.time.replace(tzinfo=UTC),
        commission=float(report.commission) if has_commission else None,
    )


def _contract_ref(details: Any) -> ContractRef:
    c = details.contract
    isin = next((t.value for t in (details.secIdList or []) if t.tag == "ISIN"), None)
    return ContractRef(
        con_id=c.conId,
        symbol=c.symbol,
        sec_type=c.secType,
        exchange=c.exchange,
        primary_exchange=c.primaryExchange,
        currency=c.currency,
        local_symbol=c.localSymbol,
        isin=isin,
        long_name=details.longName,
    )


class IbClient:
    def __init__(self, callbacks: ClientCallbacks) -> None:
        self.callbacks = callbacks
        self.ib = IB()
        self.ib.RaiseRequestErrors = True  # pacing (100) and no-contract (200) must surface
        self._completed: dict[int, str] = {}  # permId -> completedStatus
        self.ib.orderStatusEvent += self._status
        self.ib.execDetailsEvent += self._execution
        self.ib.commissionReportEvent += self._commission
        self.ib.errorEvent += self._error
        self.ib.disconnectedEvent += self._disconnected
        self._handshake_refused: asyncio.Future[int] | None = None
        # ib_async drops a completed order's ``completedStatus`` ("Rejected: ...",
        # "Cancelled by Trader"); keep it by permId so a rejection stays a rejection.
        original = self.ib.wrapper.completedOrder

        def completed_order(contract: Contract, order: Order, state: Any) -> None:
            self._completed[order.permId] = state.completedStatus or ""
            original(contract, order, state)

        self.ib.wrapper.completedOrder = completed_order  # type: ignore[method-assign, assignment]

    # ---- connection ----------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return bool(self.ib.isConnected())

    @property
    def client_id(self) -> int:
        return int(self.ib.client.clientId)

    async def connect(
        self,
        host: str,
        port: int,
        client_id: int,
        timeout: float,
        readonly: bool,
        account: str,
        startup_sync: bool = True,
    ) -> None:
        """Connect and finish ib_async's start-up sync (``startup_sync=False``: positions
        only, for a market-data connection). Raises ``ClientIdInUseError`` on 326 and
        ``TemporaryError`` when TWS is unreachable or too slow."""
        loop = asyncio.get_running_loop()
        self._handshake_refused = loop.create_future()
        fetch = StartupFetchALL if startup_sync else StartupFetchNONE
        connecting = asyncio.ensure_future(
            self.ib.connectAsync(host, port, clientId=client_id, timeout=timeout,
                                 readonly=readonly, account=account, fetchFields=fetch)
        )  # fmt: skip
        try:
            done, _ = await asyncio.wait(
                {connecting, self._handshake_refused}, return_when=asyncio.FIRST_COMPLETED
            )
            if self._handshake_refused in done:
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
                raise ClientIdInUseError(
                    f"client id {client_id} is in use at {host}:{port}",
                    broker_code=CLIENT_ID_IN_USE_CODE,
                )
            try:
                connecting.result()
            except (OSError, TimeoutError, ConnectionError) as exc:
                raise TemporaryError(f"cannot connect to TWS at {host}:{port}: {exc!r}") from exc
        finally:
            self._handshake_refused = None

    def disconnect(self) -> None:
        self.ib.disconnect()

    # ---- requests ------------------------------------------------------------------
    async def contract_details(
        self,
        *,
        symbol: str = "",
        exchange: str = "",
        primary_exchange: str = "",
        currency: str = "",
        isin: str = "",
        timeout: float = 10.0,
    ) -> list[ContractRef]:
        """Every listing TWS returns; raises ``TemporaryError`` (code 100) when paced."""
        contract = Contract(
            secType="STK",
            symbol=symbol,
            exchange=exchange,
            primaryExchange=primary_exchange,
            currency=currency,
        )
        if isin:
            contract.secIdType, contract.secId = "ISIN", isin
        try:
            details = await asyncio.wait_for(self.ib.reqContractDetailsAsync(contract), timeout)
        except RequestError as exc:
            if exc.code == 200:
                return []
            raise TemporaryError(exc.message, broker_code=exc.code) from exc
        except TimeoutError as exc:
            raise TemporaryError("contract details request timed out") from exc
        return [_contract_ref(d) for d in details]

    async def daily_bars(
        self, symbol: str, currency: str, primary_exchange: str, end: str, duration: str,
        timeout: float = 30.0,
    ) -> list[BarView]:  # fmt: skip
        """reqHistoricalData: '1 day' TRADES bars, useRTH, formatDate=1, ending ``end``
        (``yyyymmdd hh:mm:ss tz``) over ``duration`` ('30 D', '2 Y'). Raises
        ``RequestRefusedError`` (IB's 162 / 200) or ``TemporaryError`` (timeout, lost link)."""
        contract = Contract(secType="STK", symbol=symbol, exchange="SMART",
                            primaryExchange=primary_exchange, currency=currency)  # fmt: skip
        req_id = self.ib.client.getReqId()
        bars_out = BarDataList()  # type: ignore[no-untyped-call]
        future = self.ib.wrapper.startReq(req_id, contract, container=bars_out)  # type: ignore[no-untyped-call]
        self.ib.client.reqHistoricalData(  # type: ignore[no-untyped-call]
            req_id, contract, end, duration, "1 day", "TRADES", True, 1, False, []
        )
        try:
            bars = await asyncio.wait_for(future, timeout)
        except RequestError as exc:
            raise RequestRefusedError(exc.message, broker_code=exc.code) from exc
        except TimeoutError as exc:
            if self.ib.isConnected():
                self.ib.client.cancelHistoricalData(req_id)  # type: ignore[no-untyped-call]
            self.ib.wrapper._endReq(req_id)  # type: ignore[no-untyped-call]  # late answer: dropped
            raise TemporaryError(f"historical data for {symbol} timed out") from exc
        except ConnectionError as exc:
            raise TemporaryError(f"link to TWS lost during a history request: {exc}") from exc
        return [BarView(b.date, b.open, b.high, b.low, b.close, float(b.volume)) for b in bars]

    def next_order_id(self) -> int:
        return int(self.ib.client.getReqId())

    def place(
        self,
        contract: ContractRef,
        spec: OrderSpec,
        *,
        order_id: int,
        parent_id: int = 0,
        transmit: bool = True,
        account: str = "",
    ) -> None:
        order = Order(
            orderId=order_id,
            action=spec.action,
            totalQuantity=spec.quantity,
            orderType=spec.order_type,
            tif=spec.tif,
            orderRef=spec.order_ref,
            parentId=parent_id,
            transmit=transmit,
            account=account,
        )
        if spec.oca_group:
            order.ocaGroup, order.ocaType = spec.oca_group, spec.oca_type
        if spec.limit_price is not None:
            order.lmtPrice = spec.limit_price
        if spec.stop_price is not None:
            order.auxPrice = spec.stop_price
        ib_contract = Contract(
            conId=contract.con_id,
            symbol=contract.symbol,
            secType=contract.sec_type,
            exchange="SMART",
            primaryExchange=contract.primary_exchange,
            currency=contract.currency,
        )
        self.ib.placeOrder(ib_contract, order)

    def _working_trade(self, order_id: int) -> Trade | None:
        for trade in self.ib.trades():
            o = trade.order
            if o.orderId == order_id and o.clientId == self.client_id and not trade.isDone():
                return trade
        return None

    def modify(
        self,
        order_id: int,
        *,
        quantity: int | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        send: bool = True,
    ) -> bool:
        """Modify our working order ``order_id``: ``placeOrder`` again with the same
        orderId (parentId, OCA group and the rest unchanged). ``send=False`` only puts
        those terms back on ib_async's copy (after TWS refused a modification). False if
        we have no such working order."""
        trade = self._working_trade(order_id)
        if trade is None:
            return False
        o = trade.order
        if quantity is not None:
            o.totalQuantity = quantity
        if limit_price is not None:
            o.lmtPrice = limit_price
        if stop_price is not None:
            o.auxPrice = stop_price
        if send:
            o.transmit = True
            self.ib.placeOrder(trade.contract, o)
        return True

    def cancel(self, order_id: int) -> bool:
        for trade in self.ib.trades():
            if trade.order.orderId == order_id and trade.order.clientId == self.client_id:
                self.ib.cancelOrder(trade.order)
                return True
        return False

    async def refresh(self, timeout: float) -> None:
        """Re-read every open order (all clients), completed order, position and execution."""
        await asyncio.wait_for(self.ib.reqAllOpenOrdersAsync(), timeout)
        await asyncio.wait_for(self.ib.reqCompletedOrdersAsync(False), timeout)
        await asyncio.wait_for(self.ib.reqPositionsAsync(), timeout)
        await asyncio.wait_for(self.ib.reqExecutionsAsync(ExecutionFilter()), timeout)

    # ---- views ---------------------------------------------------------------------
    def trades(self) -> list[TradeView]:
        return [_trade_view(t, self._completed) for t in self.ib.trades()]

    def trade(self, order_id: int) -> TradeView | None:
        for trade in self.ib.trades():
            if trade.order.orderId == order_id and trade.order.clientId == self.client_id:
                return _trade_view(trade, self._completed)
        return None

    def executions(self) -> list[ExecView]:
        return [_exec_view(f) for f in self.ib.fills()]

    def accounts(self) -> list[str]:
        """The accounts this login manages (one, unless advisor or linked accounts)."""
        return list(self.ib.managedAccounts())

    def positions(self, account: str = "") -> list[PositionView]:
        """Positions of ``account`` ("" = every managed account)."""
        marks = {
            item.contract.conId: float(item.marketPrice) for item in self.ib.portfolio(account)
        }
        return [
            PositionView(
                account=p.account,
                symbol=p.contract.symbol,
                con_id=p.contract.conId,
                currency=p.contract.currency,
                quantity=float(p.position),
                avg_cost=float(p.avgCost),
                market_price=marks.get(p.contract.conId, 0.0),
            )
            for p in self.ib.positions(account)
        ]

    async def sync(self, timeout: float) -> None:
        """Round trip to TWS: when it returns, every message TWS sent before our request
        has been processed (one ordered socket)."""
        try:
            await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), timeout)
        except (TimeoutError, ConnectionError) as exc:
            raise TemporaryError(f"no answer from TWS: {exc!r}") from exc

    def account_values(self, account: str = "") -> dict[tuple[str, str], str]:
        return {(v.tag, v.currency): v.value for v in self.ib.accountValues(account)}

    # ---- event forwarding ------------------------------------------------------------
    def _status(self, trade: Trade) -> None:
        self.callbacks.on_status(_trade_view(trade, self._completed))

    def _execution(self, trade: Trade, fill: Fill) -> None:
        self.callbacks.on_execution(_exec_view(fill))

    def _commission(self, trade: Trade, fill: Fill, report: Any) -> None:
        self.callbacks.on_commission(report.execId, float(report.commission))

    def _error(self, req_id: int, code: int, text: str, contract: Any) -> None:
        refused = self._handshake_refused
        if code == CLIENT_ID_IN_USE_CODE and refused is not None and not refused.done():
            refused.set_result(code)
        self.callbacks.on_error(req_id, code, text)

    def _disconnected(self) -> None:
        self.callbacks.on_disconnected()

"""An asyncio TWS-protocol server on loopback: the real ib_async client talks to it.

One ``Session`` per socket. A session performs the handshake, answers requests from the
``Book`` and pushes order, execution, position and account updates to the clients that
should hear them. Faults armed on ``TwsSimulator.faults`` change what happens next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from adapters.brokers.ibkr_sim import messages as msg
from adapters.brokers.ibkr_sim.book import Book, BookEvent, SimOrder
from adapters.brokers.ibkr_sim.catalog import Catalog
from adapters.brokers.ibkr_sim.faults import Faults
from adapters.brokers.ibkr_sim.historical import HistoryDesk
from adapters.brokers.ibkr_sim.protocol import (
    FrameReader,
    ProtocolError,
    frame,
    ib_time,
    negotiate_version,
)

log = logging.getLogger("quorum.ibkr_sim")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CONNECTIVITY_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}
FARM_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
PACING_TEXT = "Max rate of messages per second has been exceeded:max=50 rec=51 (1)"
NO_SECDEF_TEXT = "No security definition has been found for the request"
CLIENT_ID_IN_USE_TEXT = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)


class Session:
    def __init__(
        self, sim: TwsSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.ready = False
        self.account_subscribed = False
        self.positions_subscribed = False
        self._frames = FrameReader()
        self._outbox: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self.closed = False

    # ---- plumbing ------------------------------------------------------------------
    def send(self, fields: list[object], delay: float = 0.0) -> None:
        if not self.closed:
            due = asyncio.get_running_loop().time() + delay
            self._outbox.put_nowait((due, frame(fields)))

    async def _write_loop(self) -> None:
        while True:
            due, data = await self._outbox.get()
            wait = due - asyncio.get_running_loop().time()
            if wait > 0:  # a delayed message holds back the ones behind it, as on a wire
                await asyncio.sleep(wait)
            if self.closed:
                return
            self.writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def close(self) -> None:
        """Drop the socket now (queued output is discarded, as when a link dies)."""
        if self.closed:
            return
        self.closed = True
        self.ready = False
        if self._writer_task is not None:
            self._writer_task.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()

    async def run(self) -> None:
        self._writer_task = asyncio.create_task(self._write_loop())
        try:
            await self._handshake()
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                for fields in self._frames.feed(data):
                    self.sim.handle(self, fields)
        except (ProtocolError, ConnectionError) as exc:
            log.info("session closed: %s", exc)
        finally:
            self.close()
            self.sim.sessions.discard(self)

    async def _handshake(self) -> None:
        while True:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("client left during handshake")
            self._frames._buf += data
            payload = self._frames.take_handshake()
            if payload is not None:
                break
        version = negotiate_version(payload)
        self.writer.write(frame([version, ib_time()]))
        await self.writer.drain()


class TwsSimulator:
    """``await sim.start()`` then point ib_async at ``127.0.0.1:sim.port``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account: str = "DU1234567",
        prices: dict[str, float] | None = None,
        starting_cash: float = 1_000_000.0,
        catalog: Catalog | None = None,
        fill_on_arrival: bool = True,
        history: HistoryDesk | None = None,
        reference_prices: bool = False,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the simulator listens on loopback only, not {host!r}")
        self.host = host
        self._port = port
        self.account = account
        self.book = Book(
            catalog or Catalog(), account, starting_cash=starting_cash,
            fill_on_arrival=fill_on_arrival,
        )  # fmt: skip
        for symbol, price in (prices or {}).items():
            self.book.prices[symbol.upper()] = price
        self.history = history or HistoryDesk()  # bars from the shipped daily files
        if reference_prices:  # no price given: the last shipped close (see docs/ibkr.md)
            for listing in self.book.catalog.listings:
                close = self.history.last_close(listing)
                if close is not None:
                    self.book.prices.setdefault(listing.symbol, close)
        self.faults = Faults(_connectivity=self._connectivity_blip)
        self.sessions: set[Session] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # arrival time of the latest client messages (to check pacing)
        self.message_times: deque[float] = deque(maxlen=100_000)
        self.api_sessions = 0  # successful API handshakes, reconnections included
        self.silenced: set[int] = set()  # perm ids whose updates are lost on the wire
        self._connectivity_lost = False
        self._queued_while_lost: list[tuple[Session, list[str]]] = []
        self.handlers: dict[int, Callable[[Session, list[str]], None]] = {
            3: self._place_order, 4: self._cancel_order, 5: self._open_orders,
            6: self._account_updates, 7: self._executions, 8: self._req_ids,
            9: self._contract_details, 16: self._all_open_orders, 17: self._managed_accounts,
            49: self._current_time, 58: self._global_cancel, 61: self._positions,
            62: self._account_summary, 71: self._start_api, 76: self._account_updates_multi,
            99: self._completed_orders,
            20: lambda s, f: self.history.handle(self, s, f),
            25: self.history.cancel,
        }  # fmt: skip

    # ---- lifecycle -----------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def start(self) -> TwsSimulator:
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        log.info("TWS simulator listening on %s:%d", self.host, self.port)
        return self

    async def stop(self) -> None:
        for session in list(self.sessions):
            session.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> TwsSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.add(session)
        await session.run()

    # ---- control API -----------------------------------------------------------------
    def set_price(self, symbol: str, price: float, volume: float | None = None) -> None:
        """Move the market: market orders fill here; limits and stops when crossed; at
        most ``volume`` shares trade (oldest order first) when given."""
        self._deliver(self.book.set_price(symbol, price, volume))
        for s in self.sessions:  # marks changed: account subscribers see new values
            if s.ready and s.account_subscribed:
                self._send_account(s)

    def orders_placed(self, order_ref: str) -> int:
        """How many orders carrying ``order_ref`` reached the book (retries included)."""
        return self.book.orders_per_ref[order_ref]

    def position(self, symbol: str) -> float:
        listing = self.book.catalog.by_symbol(symbol)
        holding = self.book.holdings.get(listing.con_id) if listing else None
        return holding.quantity if holding else 0.0

    def drop_connections(self) -> None:
        for session in list(self.sessions):
            session.close()

    def connected_client_ids(self) -> set[int]:
        return {s.client_id for s in self.sessions if s.ready and s.client_id is not None}

    # ---- dispatch ------------------------------------------------------------------
    def handle(self, session: Session, fields: list[str]) -> None:
        self.message_times.append(time.monotonic())
        try:
            msg_id = int(fields[0])
        except (ValueError, IndexError):
            raise ProtocolError(f"bad message {fields[:3]!r}") from None
        handler = self.handlers.get(msg_id)
        if handler is None:
            log.debug("ignoring message %d", msg_id)
            return
        if msg_id == 3 and self._connectivity_lost:
            self._queued_while_lost.append((session, fields))  # TWS holds them until restored
            return
        handler(session, fields)

    def _deliver(self, events: Iterable[BookEvent], delay: float = 0.0) -> None:
        for event in events:
            order = event.order
            if order.perm_id in self.silenced:
                continue
            owners = [s for s in self.sessions if s.ready and s.client_id == order.client_id]
            if event.kind == "order":
                for s in owners:
                    s.send(msg.open_order(order), delay)
                    s.send(msg.order_status(order), delay)
                continue
            execution = event.execution
            assert execution is not None
            copies = 2 if self.faults.take_duplicate() else 1
            for s in owners:
                for _ in range(copies):
                    s.send(msg.exec_details(-1, execution), delay)
                    s.send(msg.commission_report(execution), delay)
            holding = self.book.holdings[execution.listing.con_id]
            for s in self.sessions:
                if s.ready and s.positions_subscribed:
                    s.send(msg.position(self.account, execution.listing, holding.quantity,
                                        holding.avg_cost), delay)  # fmt: skip
                if s.ready and s.account_subscribed:
                    self._send_account(s, delay)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- session start -------------------------------------------------------------
    def _start_api(self, s: Session, f: list[str]) -> None:
        client_id = int(f[2])
        if self.faults.take_client_id_collision() or client_id in self.connected_client_ids():
            text = CLIENT_ID_IN_USE_TEXT
            s.writer.write(frame(msg.error(-1, 326, text)))
            s.close()
            return
        s.client_id = client_id
        s.ready = True
        self.api_sessions += 1
        s.send(msg.managed_accounts(self.account))
        s.send(msg.next_valid_id(self._next_id_for(client_id)))
        for code, text in FARM_OK:
            s.send(msg.error(-1, code, text))

    def _next_id_for(self, client_id: int) -> int:
        used = [o.order_id for o in self.book.orders.values() if o.client_id == client_id]
        return max(used, default=0) + 1

    def _managed_accounts(self, s: Session, f: list[str]) -> None:
        s.send(msg.managed_accounts(self.account))

    def _req_ids(self, s: Session, f: list[str]) -> None:
        s.send(msg.next_valid_id(self._next_id_for(s.client_id or 0)))

    def _current_time(self, s: Session, f: list[str]) -> None:
        s.send(msg.current_time(int(time.time())))

    # ---- orders ----------------------------------------------------------------------
    def _place_order(self, s: Session, f: list[str]) -> None:
        from adapters.brokers.ibkr_sim.orders import place_order

        place_order(self, s, f)

    def _cancel_order(self, s: Session, f: list[str]) -> None:
        order_id = int(f[2])
        order = self.book.order_for(s.client_id or 0, order_id)
        if order is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            s.send(msg.error(order_id, 10147, text))
            return
        if order.is_done:
            text = (
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled,"
                f" state: {order.status}."
            )
            s.send(msg.error(order_id, 10148, text))
            return
        self._deliver(self.book.cancel(order))

    def _global_cancel(self, s: Session, f: list[str]) -> None:
        for order in self.book.open_orders():
            self._deliver(self.book.cancel(order))

    def _send_orders(self, s: Session, orders: list[SimOrder]) -> None:
        for order in orders:
            s.send(msg.open_order(order))
            s.send(msg.order_status(order))
        s.send(msg.open_order_end())

    def _open_orders(self, s: Session, f: list[str]) -> None:
        cid = s.client_id or 0
        self._send_orders(s, self.book.open_orders(None if cid == 0 else cid))

    def _all_open_orders(self, s: Session, f: list[str]) -> None:
        self._send_orders(s, self.book.open_orders())

    def _completed_orders(self, s: Session, f: list[str]) -> None:
        for order in self.book.completed_orders():
            s.send(msg.completed_order(order))
        s.send(msg.completed_orders_end())

    def _executions(self, s: Session, f: list[str]) -> None:
        req_id, client_id, symbol, side = int(f[2]), int(f[3] or 0), f[6], f[9]
        for e in self.book.executions:
            if client_id and e.client_id != client_id:
                continue
            if symbol and e.listing.symbol != symbol.upper():
                continue
            if side and {"BUY": "BOT", "SELL": "SLD"}.get(side, side) != e.side:
                continue
            s.send(msg.exec_details(req_id, e))
            s.send(msg.commission_report(e))
        s.send(msg.exec_details_end(req_id))

    # ---- contracts -------------------------------------------------------------------
    def _contract_details(self, s: Session, f: list[str]) -> None:
        req_id = int(f[2])
        if self.faults.take_pacing("contract"):
            s.send(msg.error(req_id, 100, PACING_TEXT))
            return
        exchange = f[10]
        found = self.book.catalog.search(
            con_id=int(f[3] or 0), symbol=f[4], sec_type=f[5], exchange=exchange,
            primary_exchange=f[11], currency=f[12], sec_id_type=f[16], sec_id=f[17],
        )  # fmt: skip
        if not found:
            s.send(msg.error(req_id, 200, NO_SECDEF_TEXT))
            return
        for listing in found:
            s.send(msg.contract_details(req_id, listing, exchange or listing.exchange))
        s.send(msg.contract_details_end(req_id))

    # ---- portfolio and account -------------------------------------------------------
    def _positions(self, s: Session, f: list[str]) -> None:
        s.positions_subscribed = True
        for con_id, holding in self.book.holdings.items():
            listing = self.book.catalog.by_con_id(con_id)
            if listing is not None and holding.quantity:
                s.send(msg.position(self.account, listing, holding.quantity, holding.avg_cost))
        s.send(msg.position_end())

    def account_values(self) -> list[tuple[str, str, str]]:
        book = self.book
        cash_usd = sum(book.to_usd(v, c) for c, v in book.cash.items())
        net = book.net_liquidation()
        rows = [
            ("AccountCode", self.account, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("NetLiquidation", f"{net:.2f}", "USD"),
            ("TotalCashValue", f"{cash_usd:.2f}", "USD"),
            ("AvailableFunds", f"{cash_usd:.2f}", "USD"),
            ("BuyingPower", f"{max(cash_usd, 0.0):.2f}", "USD"),
            ("ExchangeRate", f"{book.eurusd:.4f}", "EUR"),
        ]
        rows += [("CashBalance", f"{v:.2f}", c) for c, v in sorted(book.cash.items())]
        return rows

    def _send_account(self, s: Session, delay: float = 0.0) -> None:
        for key, value, currency in self.account_values():
            s.send(msg.account_value(key, value, currency, self.account), delay)
        for con_id, holding in self.book.holdings.items():
            listing = self.book.catalog.by_con_id(con_id)
            if listing is not None:
                mark = self.book.mark(listing)
                s.send(msg.portfolio_value(listing, holding.quantity, mark, holding.avg_cost,
                                           self.account), delay)  # fmt: skip
        s.send(msg.account_time(), delay)

    def _account_updates(self, s: Session, f: list[str]) -> None:
        s.account_subscribed = f[2] == "1"
        if s.account_subscribed:
            self._send_account(s)
            s.send(msg.account_download_end(self.account))

    def _account_updates_multi(self, s: Session, f: list[str]) -> None:
        req_id = int(f[2])
        for key, value, currency in self.account_values():
            s.send(msg.account_update_multi(req_id, self.account, key, value, currency))
        s.send(msg.account_update_multi_end(req_id))

    def _account_summary(self, s: Session, f: list[str]) -> None:
        req_id = int(f[2])
        wanted = set(f[4].split(",")) if len(f) > 4 else set()
        for key, value, currency in self.account_values():
            if key in wanted:
                s.send(msg.account_summary(req_id, self.account, key, value, currency))
        s.send(msg.account_summary_end(req_id))

    # ---- connectivity fault --------------------------------------------------------
    async def _connectivity_blip(self, gap: float, code: int) -> None:
        self._connectivity_lost = True
        for s in list(self.sessions):
            if s.ready:
                s.send(msg.error(-1, 1100, CONNECTIVITY_TEXT[1100]))
        await asyncio.sleep(gap)
        self._connectivity_lost = False
        for s in list(self.sessions):
            if s.ready:
                s.send(msg.error(-1, code, CONNECTIVITY_TEXT[code]))
        queued, self._queued_while_lost = self._queued_while_lost, []
        for session, fields in queued:
            if not session.closed:
                self._place_order(session, fields)

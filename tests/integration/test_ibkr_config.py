"""IBKR configuration guard (live ports) and request pacing."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from adapters.brokers.ibkr import IBKRBroker, IbkrConfig
from adapters.brokers.ibkr.pacing import Pacer, RollingWindowLimiter, TokenBucket, backoff_delay
from adapters.brokers.ibkr.translate import IbErrorClass, classify_error
from adapters.brokers.ibkr_sim import TwsSimulator
from config.settings import load_settings
from core.errors import ConfigurationError
from core.orders import OrderIntent, OrderSide, OrderType

# every test here talks to a socket: a hang must fail fast, not stall the suite
pytestmark = pytest.mark.timeout(30)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_config_defaults_are_paper_port_7497() -> None:
    config = IbkrConfig()
    assert (config.port, config.is_live) == (7497, False)


@pytest.mark.parametrize("port", [7496, 4001])
@pytest.mark.parametrize(
    ("mode", "confirmed", "missing"),
    [("paper", False, "mode"), ("paper", True, "mode"), ("live", False, "live_confirmed")],
)
def test_config_when_live_port_without_live_mode_and_confirmation_then_refused(
    port: int, mode: str, confirmed: bool, missing: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"LIVE trading port.*{missing}"):
        IbkrConfig(port=port, mode=mode, live_confirmed=confirmed)  # type: ignore[arg-type]


def test_config_when_live_mode_and_confirmed_then_live_port_allowed() -> None:
    assert IbkrConfig(port=4001, mode="live", live_confirmed=True).is_live


def test_config_rejects_unknown_keys_and_is_frozen() -> None:
    with pytest.raises(ValidationError):
        IbkrConfig(prot=7497)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        IbkrConfig().port = 4002  # type: ignore[misc]


def test_config_from_settings_takes_mode_and_order_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_BROKER__IBKR__PORT", "7496")
    with pytest.raises(ConfigurationError):
        IbkrConfig.from_settings(load_settings())
    monkeypatch.setenv("QUORUM_MODE", "live")
    monkeypatch.setenv("QUORUM_LIVE_CONFIRMED", "true")
    monkeypatch.setenv("QUORUM_RISK__ORDERS_PER_MINUTE", "20")
    config = IbkrConfig.from_settings(load_settings(), client_id=3)
    assert (config.port, config.client_id, config.orders_per_minute) == (7496, 3, 20)


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, capacity=2, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]
    clock.now = 0.1
    assert bucket.try_take() == 0.0


def test_pacer_never_lets_more_than_45_messages_into_any_second() -> None:
    clock = FakeClock()
    pacer = Pacer(messages_per_second=45.0)
    pacer.messages._clock = clock
    pacer.messages._stamp = 0.0
    sent: list[float] = []
    while clock.now < 5.0:  # a caller that always wants to send
        wait = pacer.messages.try_take()
        if wait == 0.0:
            sent.append(clock.now)
        else:
            clock.now += wait
    worst = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert worst <= 45
    assert len(sent) >= 4 * 40  # and it is not needlessly slow


def test_order_limiter_allows_the_budget_per_window_then_waits() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(100, 60.0, clock=clock)
    assert all(limiter.try_take() == 0.0 for _ in range(100))
    assert limiter.try_take() == pytest.approx(60.0)
    clock.now = 60.0
    assert limiter.try_take() == 0.0


def test_backoff_doubles_per_attempt_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(3)
    for attempt, full in enumerate([1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delays = [backoff_delay(rng, attempt, 1.0, 8.0) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), attempt
        assert max(delays) - min(delays) > full / 4  # jittered: clients do not move in step


def test_backoff_with_the_same_seed_then_same_delays() -> None:
    def delays(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [backoff_delay(rng, k, 0.5, 30.0) for k in range(6)]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1100, IbErrorClass.CONNECTIVITY_LOST), (2110, IbErrorClass.CONNECTIVITY_LOST),
        (1101, IbErrorClass.CONNECTIVITY_RESTORED), (1102, IbErrorClass.CONNECTIVITY_RESTORED),
        (2103, IbErrorClass.FARM_STATUS), (2104, IbErrorClass.FARM_STATUS),
        (201, IbErrorClass.ORDER_REJECTED), (203, IbErrorClass.ORDER_REJECTED),
        (10147, IbErrorClass.CANNOT_CANCEL), (10148, IbErrorClass.CANNOT_CANCEL),
        (100, IbErrorClass.PACING), (326, IbErrorClass.CLIENT_ID_IN_USE),
        (2158, IbErrorClass.INFO), (504, IbErrorClass.OTHER),
    ],
)  # fmt: skip
def test_error_codes_are_classified(code: int, kind: IbErrorClass) -> None:
    assert classify_error(code) is kind


async def test_many_orders_at_the_socket_then_never_over_45_messages_per_second(
    broker: IBKRBroker, sim: TwsSimulator
) -> None:
    """Our pacer alone holds the line: ib_async's own throttle (also 45/s) is switched
    off, and each message is stamped as it leaves the client (server-side stamps could
    bunch up behind a busy event loop). Counts per window, not durations, are asserted."""
    import asyncio

    ib_client = broker.client.ib.client
    ib_client.MaxRequests = 0
    sent: list[float] = []
    conn_send = ib_client.conn.sendMsg

    def stamped(data: bytes) -> None:
        sent.append(asyncio.get_running_loop().time())
        conn_send(data)

    ib_client.conn.sendMsg = stamped  # type: ignore[method-assign]
    for i in range(40):
        intent = OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=1 + i,
                             order_type=OrderType.LIMIT, limit_price=100.0,
                             take_profit=120.0 if i % 2 else None)  # fmt: skip
        await broker.place(intent, f"q-rate-{i}")
    assert len(sent) >= 60  # enough traffic to need pacing (brackets are 3 messages)
    worst = max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent)
    assert worst <= 45
    assert all(sim.orders_placed(f"q-rate-{i}") == 1 for i in range(40))


async def test_readonly_connection_then_place_refused(sim: TwsSimulator, store: object) -> None:
    from tests.integration.conftest import sim_config

    broker = IBKRBroker(sim_config(sim.port, readonly=True), store)  # type: ignore[arg-type]
    await broker.connect()
    try:
        with pytest.raises(ConfigurationError, match="read-only"):
            await broker.place(OrderIntent(symbol="AAPL", side=OrderSide.BUY, quantity=1), "q-ro")
        assert sim.orders_placed("q-ro") == 0
    finally:
        await broker.disconnect()

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.brokers.paper import PaperBrokerConfig
from core.errors import ConfigurationError
from tools.costs import CommissionModel


def test_config_when_unknown_key_then_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PaperBrokerConfig.model_validate({"slipage_bps": 5})


def test_config_is_frozen() -> None:
    config = PaperBrokerConfig()
    with pytest.raises(ValidationError):
        config.starting_cash = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_config_when_volume_share_outside_0_1_then_rejected(share: float) -> None:
    with pytest.raises(ValidationError):
        PaperBrokerConfig(max_volume_share=share)


def test_config_defaults_use_ibkr_like_commissions() -> None:
    config = PaperBrokerConfig()
    assert config.commission_model("USD") == CommissionModel.ibkr_us_fixed()
    assert config.commission_model("EUR").kind == "percent"


def test_commission_model_when_currency_not_configured_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="GBP"):
        PaperBrokerConfig().commission_model("GBP")


def test_symbol_currency_when_not_an_iso_code_then_rejected() -> None:
    with pytest.raises(ValidationError, match="ISO"):
        PaperBrokerConfig(symbol_currency={"MC": "euro"})
    assert PaperBrokerConfig(symbol_currency={"mc": "EUR"}).symbol_currency == {"MC": "EUR"}

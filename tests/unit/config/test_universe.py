"""Universe files: the shipped Euronext Paris and US lists, and bad rows named by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.universe import load_universe
from core.errors import ConfigurationError, DataValidationError
from core.instruments import isin_checksum_ok

HEADER = "symbol,isin,name,currency,primary_exchange,exchange\n"


def test_shipped_euronext_paris_universe_is_sbf_eur_with_valid_isins() -> None:
    paris = load_universe("euronext_paris")
    assert len(paris) == 20
    assert {(i.primary_exchange, i.currency) for i in paris} == {("SBF", "EUR")}
    assert all(i.isin is not None for i in paris)  # FR..., and NL for Airbus SE
    assert all(isin_checksum_ok(i.isin) for i in paris if i.isin)
    by_symbol = {i.symbol: i.isin for i in paris}
    assert by_symbol["TTE"] == "FR0000120271"  # TotalEnergies
    assert by_symbol["MC"] == "FR0000121014"  # LVMH


def test_shipped_us_sample_universe_matches_the_shipped_bars() -> None:
    us = load_universe("us_sample")
    assert [i.symbol for i in us] == ["AAPL", "MSFT", "IBM", "GOOG"]
    assert {i.currency for i in us} == {"USD"}


def test_bad_isin_is_named_by_file_line_even_after_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        HEADER
        + "TTE,FR0000120271,TotalEnergies,EUR,SBF,SMART\n"
        + "\n"
        + "MC,FR0000121015,LVMH,EUR,SBF,SMART\n"  # check digit off by one
    )
    with pytest.raises(DataValidationError) as err:
        load_universe(path)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(f"{path}:4: isin")
    assert "invalid ISIN 'FR0000121015'" in err.value.problems[0]


def test_same_listing_twice_and_missing_column_are_refused(tmp_path: Path) -> None:
    twice = tmp_path / "twice.csv"
    twice.write_text(
        HEADER
        + "TTE,FR0000120271,TotalEnergies,EUR,SBF,SMART\n"
        + "TTE,FR0000120271,TotalEnergies,EUR,SBF,SMART\n"
    )
    with pytest.raises(DataValidationError) as err:
        load_universe(twice)
    assert err.value.problems == [f"{twice}:3: TTE@SBF already listed on line 2"]
    headless = tmp_path / "headless.csv"
    headless.write_text("symbol,isin\nTTE,FR0000120271\n")
    with pytest.raises(DataValidationError) as err:
        load_universe(headless)
    assert "primary_exchange" in err.value.problems[0]


def test_unknown_universe_lists_the_shipped_ones() -> None:
    # a file that is not there needs a human (exit 2), unlike a file with bad rows
    with pytest.raises(ConfigurationError, match="euronext_paris, us_sample"):
        load_universe("nasdaq_everything")

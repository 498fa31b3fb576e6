"""Extract the shipped daily bars from the public-domain Quandl WIKI copy in bokeh_sampledata.

Run once by a maintainer (`python scripts/extract_sample_data.py`); the output under
data/us_daily/ is committed so that Quorum never needs a network at run time.
Only rows from 2000-01-01 on are kept, for AAPL, MSFT, IBM and GOOG.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

from bokeh_sampledata import package_path

TICKERS = ("AAPL", "MSFT", "IBM", "GOOG")
FIRST_DATE = "2000-01-01"
OUT = Path(__file__).resolve().parent.parent / "data" / "us_daily"
COLUMNS = ("date", "open", "high", "low", "close", "adj_close", "volume")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, str]]] = {t: [] for t in TICKERS}
    with gzip.open(package_path("stocks.csv.gz"), "rt", newline="") as src:
        for raw_row in csv.DictReader(src):
            # The source header is Ticker,Date,Open,High,Low,Close,Volume,Adj Close.
            row = {k.lower().replace(" ", "_"): v for k, v in raw_row.items()}
            ticker = row["ticker"]
            if ticker in rows and row["date"][:10] >= FIRST_DATE:
                rows[ticker].append(row)
    for ticker, series in rows.items():
        series.sort(key=lambda r: r["date"])
        # mtime=0 keeps the gzip bytes identical across runs, so re-extraction shows no diff.
        with (
            open(OUT / f"{ticker}.csv.gz", "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        ):
            text = [",".join(COLUMNS)]
            text += [
                ",".join(r[c] if c != "date" else r["date"][:10] for c in COLUMNS) for r in series
            ]
            gz.write(("\n".join(text) + "\n").encode())
        print(
            f"{ticker}: {len(series)} bars, {series[0]['date'][:10]} .. {series[-1]['date'][:10]}"
        )


if __name__ == "__main__":
    main()

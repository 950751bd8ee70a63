"""``--ticker SYMBOL``: daily bars from Yahoo Finance (optional ``yfinance``), cached as CSV.

The cache folder is the ``cache`` argument, else ``$LSTMTRADE_CACHE``, else
``~/.cache/lstmtrade/prices/``. Each ticker is ``SYMBOL.csv`` (Date,Open,High,Low,Close[,Adj Close],Volume,
the format :func:`lstmtrade.data.prices.load_prices` reads) plus ``SYMBOL.json`` holding the download time.
A cached ticker is reused until ``refresh=True``. The only function that touches the network is
:func:`_fetch_yahoo`; everything else (flattening yfinance's columns, time zones, caching) is plain
pandas and is tested with a yfinance-shaped frame.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataError, first_line
from ..files import write_json
from ..formatting import stamp, stamper
from .panel import UNIVERSE_SAMPLES, load_universe
from .prices import SAMPLES, PriceData, load_prices

ENV_CACHE = "LSTMTRADE_CACHE"
FIELDS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.^=\-]{0,19}$|^\^[A-Z0-9.=\-]{1,19}$")


def cache_dir(cache: str | Path | None = None) -> Path:
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lstmtrade" / "prices"


def check_symbol(symbol: str) -> str:
    text = str(symbol).strip().upper()
    if not _SYMBOL.match(text):
        raise DataError(f"--ticker '{symbol}' is not a ticker symbol (letters, digits and . ^ = - only)")
    return text


def _fetch_yahoo(symbol: str, start: str | None, end: str | None) -> pd.DataFrame:
    """The network boundary: yfinance's daily bars, as yfinance returns them. Tests replace this."""
    try:
        import yfinance as yf
    except ImportError:
        raise DataError(f"--ticker {symbol} needs the optional yfinance package: "
                        'pip install "lstmtrade[yahoo]" (or download a CSV yourself and use --data FILE)') from None
    kwargs: dict[str, Any] = {"start": start, "end": end} if start else {"period": "max"}
    if end and not start:
        kwargs["end"] = end
    return yf.download(symbol, interval="1d", auto_adjust=False, actions=False, progress=False,
                       threads=False, **kwargs)


def normalize(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """yfinance's frame -> columns Date, Open, High, Low, Close[, Adj Close], Volume with plain dates."""
    frame = raw.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame = _flatten(frame, symbol)
    frame.columns = [str(c).strip() for c in frame.columns]
    lower = {c.lower(): c for c in frame.columns}
    if not isinstance(frame.index, pd.DatetimeIndex):
        date_col = lower.get("date") or lower.get("datetime")
        if date_col is None:
            raise DataError(f"{symbol}: the download has no dates")
        frame = frame.set_index(date_col)
    index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    if index.tz is not None:
        index = index.tz_localize(None)  # keep the exchange's calendar date, drop the zone
    frame.index = index.normalize().rename("Date")
    keep = {}
    for name in FIELDS:
        col = lower.get(name.lower())
        if col is not None:
            keep[name] = pd.to_numeric(frame[col], errors="coerce")
    missing = [f for f in ("Open", "High", "Low", "Close", "Volume") if f not in keep]
    if missing:
        raise DataError(f"{symbol}: the download lacks column(s) {', '.join(missing)}")
    out = pd.DataFrame(keep, index=frame.index)
    out = out.dropna(how="all", subset=["Open", "High", "Low", "Close"])
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


def _flatten(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """MultiIndex columns such as ("Close", "MSFT") -> "Close", choosing ``symbol`` if there are several."""
    fields = {f.lower() for f in FIELDS}
    field_level = next((i for i in range(frame.columns.nlevels)
                        if {str(v).lower() for v in frame.columns.get_level_values(i)} & fields), None)
    if field_level is None:
        raise DataError(f"{symbol}: unexpected download columns {list(frame.columns)[:6]}")
    for level in reversed(range(frame.columns.nlevels)):
        if level == field_level:
            continue
        values = list(dict.fromkeys(frame.columns.get_level_values(level)))
        if len(values) > 1:
            match = next((v for v in values if str(v).upper() == symbol), None)
            if match is None:
                raise DataError(f"{symbol}: the download holds other tickers ({', '.join(map(str, values))})")
            frame = frame.xs(match, axis=1, level=level)
            field_level -= int(level < field_level)
        else:
            frame = frame.droplevel(level, axis=1)
            field_level -= int(level < field_level)
    return frame


def _paths(symbol: str, cache: str | Path | None) -> tuple[Path, Path]:
    folder = cache_dir(cache)
    return folder / f"{symbol}.csv", folder / f"{symbol}.json"


def download(symbol: str, *, refresh: bool = False, cache: str | Path | None = None,
             start: str | None = None, end: str | None = None) -> Path:
    """The cached CSV of ``symbol``'s daily bars, downloaded first if not cached (or if ``refresh``)."""
    symbol = check_symbol(symbol)
    csv_path, meta_path = _paths(symbol, cache)
    if csv_path.exists() and meta_path.exists() and not refresh:
        return csv_path
    try:
        raw = _fetch_yahoo(symbol, start, end)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - network, HTTP, rate limits, yfinance internals
        first = first_line(exc)
        raise DataError(f"could not download {symbol} (offline?): {first[:200]}; use --data FILE") from None
    if raw is None or len(raw) == 0:
        raise DataError(f"could not download {symbol} (offline?): no rows returned (unknown symbol, or no "
                        "connection); use --data FILE")
    frame = normalize(raw, symbol)
    if frame.empty:
        raise DataError(f"could not download {symbol} (offline?): no price rows returned; use --data FILE")
    try:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{symbol}.", suffix=".csv", dir=csv_path.parent)
        os.close(fd)
    except OSError as exc:
        raise DataError(f"cannot write the price cache {csv_path.parent}: {exc.strerror or exc} "
                        f"(set {ENV_CACHE} to another folder)") from None
    tmp = Path(tmp_name)
    try:
        frame.to_csv(tmp, index_label="Date", date_format="%Y-%m-%d", float_format="%.17g")
        try:
            checked = load_prices(tmp, name=symbol)  # refuse to cache what the loader would refuse
        except DataError as exc:
            raise DataError(f"{symbol}: the downloaded data is not usable: {str(exc).replace(str(tmp), 'download')}") \
                from None
        os.replace(tmp, csv_path)
        write_json(meta_path, {"symbol": symbol, "source": "yahoo",
                               "downloaded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                               "rows": len(checked), "first": stamp(checked.frame.index[0]),
                               "last": stamp(checked.frame.index[-1])})
    except OSError as exc:
        raise DataError(f"cannot write the price cache {csv_path.parent}: {exc.strerror or exc} "
                        f"(set {ENV_CACHE} to another folder)") from None
    finally:
        tmp.unlink(missing_ok=True)
    return csv_path


def load_ticker(symbol: str, *, start: str | None = None, end: str | None = None, refresh: bool = False,
                cache: str | Path | None = None) -> PriceData:
    """``symbol``'s validated daily bars from the cache (downloading them first if needed)."""
    symbol = check_symbol(symbol)
    path = download(symbol, refresh=refresh, cache=cache)
    data = load_prices(path, start=start, end=end, name=symbol)
    return dataclasses.replace(data, source=f"yahoo:{symbol}")


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(data: PriceData) -> dict[str, Any]:
    frame = data.frame
    show = stamper(frame.index)
    return {"rows": len(frame), "first": show(frame.index[0]), "last": show(frame.index[-1]), "bar": data.bars.label,
            "calendar": data.bars.describe()}


def list_cached(cache: str | Path | None = None) -> list[dict[str, Any]]:
    """Cached tickers: symbol, rows, first and last date, download time and path (sorted by symbol)."""
    folder = cache_dir(cache)
    if not folder.is_dir():
        return []
    out = []
    for csv_path in sorted(folder.glob("*.csv")):
        meta = _read_meta(csv_path.with_suffix(".json"))
        row = {"symbol": csv_path.stem, "kind": "cached", "path": str(csv_path),
               "downloaded": meta.get("downloaded")}
        try:
            row.update(_describe(load_prices(csv_path, name=csv_path.stem)))
        except DataError as exc:
            row["error"] = str(exc)
        out.append(row)
    return out


def list_samples() -> list[dict[str, Any]]:
    """Bundled single-ticker samples, then the bundled universes (``sample:SP500``)."""
    return [{"symbol": s, "kind": "sample", "source": f"sample:{s}", **_describe(load_prices(f"sample:{s}"))}
            for s in SAMPLES] + [_describe_universe(s) for s in UNIVERSE_SAMPLES]


def _describe_universe(name: str) -> dict[str, Any]:
    """A bundled universe: rows (bars used, all tickers), first and last date, and how many tickers it holds."""
    universe = load_universe(f"sample:{name}")
    calendar = universe.calendar
    show = stamper(calendar)
    return {"symbol": name, "kind": "sample", "source": f"sample:{name}", "rows": int(universe.report["rows"].sum()),
            "first": show(calendar[0]), "last": show(calendar[-1]), "bar": universe.bars.label,
            "tickers": len(universe.report),
            "summary": universe.summary}


def summary(symbol: str, cache: str | Path | None = None) -> dict[str, Any]:
    """Rows, first and last date of a cached ticker, or of a bundled sample (``sample:MSFT``)."""
    text = str(symbol).strip()
    if text.lower().startswith("sample:"):
        name = text.split(":", 1)[1].upper()
        if name in UNIVERSE_SAMPLES:
            return _describe_universe(name)
        return {"symbol": name, "kind": "sample", "source": f"sample:{name}", **_describe(load_prices(text))}
    name = check_symbol(text)
    csv_path, meta_path = _paths(name, cache)
    if csv_path.exists():
        meta = _read_meta(meta_path)
        return {"symbol": name, "kind": "cached", "source": f"yahoo:{name}", "path": str(csv_path),
                "downloaded": meta.get("downloaded"), **_describe(load_prices(csv_path, name=name))}
    if name in SAMPLES:
        return {"symbol": name, "kind": "sample", "source": f"sample:{name}",
                **_describe(load_prices(f"sample:{name}"))}
    if name in UNIVERSE_SAMPLES:
        return _describe_universe(name)
    raise DataError(f"{name} is neither cached in {cache_dir(cache)} nor a bundled sample "
                    f"({', '.join(SAMPLES + UNIVERSE_SAMPLES)}); fetch it with `lstmtrade backtest --ticker {name}`")

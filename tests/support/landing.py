"""Reads the landing page's arrivals as a person does: each table row's cells, by its key."""

from __future__ import annotations

from html.parser import HTMLParser

# (table class, team, row key: an intake path or an outcome) -> the row's cells as text
Rows = dict[tuple[str, str, str], list[str]]


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: Rows = {}
        self._table: tuple[str, str] | None = None
        self._row: list[str] | None = None
        self._key = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table" and attr.get("class") in ("arrivals", "outcomes"):
            self._table = (str(attr["class"]), str(attr["data-team"]))
        elif tag == "tr" and self._table is not None:
            key = attr.get("data-intake") or attr.get("data-outcome")
            if key is not None:
                self._key, self._row = key, []
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")

    def handle_data(self, data: str) -> None:
        if self._row:
            self._row[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None and self._table is not None:
            kind, team = self._table
            self.rows[(kind, team, self._key)] = self._row
            self._row = None
        elif tag == "table":
            self._table = None


def arrival_rows(page: str) -> Rows:
    """The rows of every team's arrivals and outcomes tables."""
    parser = _Tables()
    parser.feed(page)
    return parser.rows

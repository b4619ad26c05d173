"""What the introspection commands print: a two-column table, and with ``--json`` one JSON
object on the last line."""
import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text


def print_json(data: dict[str, Any]) -> None:
    """``data`` as one JSON object on one line (values JSON lacks are written as text)."""
    typer.echo(json.dumps(data, default=str))


def show_findings(title: str, rows: dict[str, str], data: dict[str, Any], as_json: bool) -> None:
    """Print ``rows`` (name: value, as plain text, not markup) under ``title``; with ``as_json``,
    then ``data`` as one JSON object on the last line."""
    table = Table(title=title, show_header=False, title_justify='left')
    table.add_column(style='bold', overflow='fold')
    table.add_column(overflow='fold')  # long paths wrap instead of being cut
    for name, value in rows.items():
        table.add_row(Text(name), Text(value))
    Console().print(table)
    if as_json:
        print_json(data)

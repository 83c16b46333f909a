"""The `samdata` command: parses arguments, calls the Python API, renders with rich. No logic here.

One module per group of commands; importing them registers their commands on the app."""

from __future__ import annotations

import importlib

from samdata.cli._common import app

# In pipeline order: `samdata --help` lists commands as they were registered.
for _group in ("setup", "data", "lineage", "exporting", "training", "pipeline", "serving", "voice"):
    importlib.import_module(f"samdata.cli.{_group}")

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()

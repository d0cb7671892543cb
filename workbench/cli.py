"""The `workbench` command line: parses, calls the library, prints. No scanning logic lives here."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    help="Workbench: scan AI training data, logs, model outputs and model files for security issues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit: how every user error ends."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# ---- data plane: scan / query / runs ---------------------------------------------------

# ---- secrets + redaction (issue 4) -----------------------------------------------------

# ---- model plane: probes, canaries (issue 5) --------------------------------------------

# ---- supply chain: model artifact scanning (issue 8) ------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""Placeholder CLI (replaced below)."""
import typer

app = typer.Typer()

"""The `c2d` command line: services, the embedded stack, publishing, tokens and compute jobs."""

from c2d.cli.app import app, main

__all__ = ["app", "main"]

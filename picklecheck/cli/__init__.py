"""The ``picklecheck`` command (:mod:`.command`) and how it finds its targets (:mod:`.target`)."""

from picklecheck.cli.command import cli, main

__all__ = ["cli", "main"]

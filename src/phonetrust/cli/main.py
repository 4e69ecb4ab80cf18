"""Entry point of the ``phonetrust`` command."""

from __future__ import annotations

import click

from phonetrust import __version__
from phonetrust.cli.boundary import TranslatingGroup
from phonetrust.cli.demo import demo
from phonetrust.cli.file_cmds import file_group


class Root(TranslatingGroup):
    """Sub-groups inherit the error translation of the root."""

    group_class = TranslatingGroup


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phonetrust")
def cli() -> None:
    """phonetrust: trust lists, signed and encrypted configuration for Cisco IP phones.

    Shell completion: eval "$(_PHONETRUST_COMPLETE=bash_source phonetrust)".
    """


cli.add_command(file_group)
cli.add_command(demo)


def main() -> None:
    cli(prog_name="phonetrust")

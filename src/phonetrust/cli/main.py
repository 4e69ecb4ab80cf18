"""Entry point of the ``phonetrust`` command."""

from __future__ import annotations

import click

from phonetrust import __version__
from phonetrust.cli.admin_cmd import admin
from phonetrust.cli.backup_cmds import backup_group
from phonetrust.cli.boundary import TranslatingGroup
from phonetrust.cli.capf_cmds import capf_group
from phonetrust.cli.cluster_cmds import alerts_cmd, audit_cmd, cluster_group
from phonetrust.cli.ctlclient_cmds import ctl_client_group
from phonetrust.cli.demo import demo
from phonetrust.cli.diagnose_cmd import diagnose_group
from phonetrust.cli.file_cmds import file_group
from phonetrust.cli.inventory_cmds import (
    device_group,
    group_group,
    param_group,
    profile_group,
    truststore_group,
)
from phonetrust.cli.phone_cmds import phone_group
from phonetrust.cli.plan_cmd import plan
from phonetrust.cli.serve_cmd import serve
from phonetrust.cli.tftp_cmds import tftp_group
from phonetrust.cli.tvs_cmds import tvs_group
from phonetrust.cli.user_cmds import user_group
from phonetrust.cli.web_cmd import web


class Root(TranslatingGroup):
    """Sub-groups inherit the error translation of the root."""

    group_class = TranslatingGroup


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phonetrust")
def cli() -> None:
    """phonetrust: trust lists, signed and encrypted configuration for Cisco IP phones.

    Cluster commands keep their database and keys in --data DIR
    (PHONETRUST_DATA, default ./phonetrust-data); --db URL (PHONETRUST_DB)
    puts the database elsewhere, e.g. on PostgreSQL.

    Shell completion: eval "$(_PHONETRUST_COMPLETE=bash_source phonetrust)".
    """


for command in (
    file_group,
    cluster_group,
    admin,
    serve,
    tvs_group,
    capf_group,
    param_group,
    device_group,
    profile_group,
    group_group,
    truststore_group,
    alerts_cmd,
    audit_cmd,
    backup_group,
    ctl_client_group,
    demo,
    phone_group,
    plan,
    tftp_group,
    diagnose_group,
    user_group,
    web,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="phonetrust")

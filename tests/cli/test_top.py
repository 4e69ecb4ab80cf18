"""The command itself: help, version, usage errors, and the demo."""

from __future__ import annotations

import stat
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.cli.helpers import run, show_json

SUBCOMMANDS = ("build", "decrypt", "encrypt", "show", "sign")
ROLES = ("SAST", "CCM", "CCM+TFTP", "TFTP", "CAPF", "APP-SERVER", "TVS")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_command_groups(flag: str) -> None:
    out = run(flag).ok().stdout
    assert out.startswith("Usage: phonetrust [OPTIONS] COMMAND")
    assert "file " in out
    assert "demo " in out
    assert "--version" in out


def test_no_arguments_prints_usage_without_traceback() -> None:
    result = run()
    assert result.code in (0, 2), str(result)
    assert "Usage: phonetrust" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_file_help_lists_every_subcommand() -> None:
    out = run("file", "--help").ok().stdout
    assert out.startswith("Usage: phonetrust file [OPTIONS] COMMAND")
    for name in SUBCOMMANDS:
        assert f"  {name} " in out, name
    # The one-line summaries are whole sentences, not cut off mid-way.
    commands = out.split("Commands:")[1]
    assert "..." not in commands


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name: str) -> None:
    out = run("file", name, "--help").ok().stdout
    assert out.startswith(f"Usage: phonetrust file {name} [OPTIONS] PATH")


def test_build_help_names_the_record_syntax_and_roles() -> None:
    out = run("file", "build", "--help").ok().stdout
    assert "ROLE=PEM[,dns=NAME][,ip=A.B.C.D][,hash-only]" in out
    for role in ROLES:
        assert role in out, role
    for option in ("--signer", "--record", "--digest", "--filename", "--no-signer-record"):
        assert option in out, option
    assert "sha1|sha512" in out


def test_show_help_states_the_exit_statuses() -> None:
    out = " ".join(run("file", "show", "--help").ok().stdout.split())
    assert "--json" in out
    assert "--cert" in out
    assert "0 parsed and verified, 1 not parseable or not verified, 2 usage error" in out


def test_version_is_the_installed_distribution_version() -> None:
    out = run("--version").ok().stdout
    assert out == f"phonetrust, version {version('phonetrust')}\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("frobnicate",), "No such command 'frobnicate'"),
        (("file", "frobnicate"), "No such command 'frobnicate'"),
        (("--frobnicate",), "No such option '--frobnicate'"),
        (("file", "show"), "Missing argument 'PATH'"),
        (("file", "show", "x", "--frobnicate"), "No such option '--frobnicate'"),
        (("file", "sign", "x"), "Missing option '--signer'"),
        (("file", "encrypt", "x", "--signer", "s.pem"), "Missing option '--device-cert'"),
        (("file", "decrypt", "x.enc.sgn"), "Missing option '--device-key'"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], fragment: str, tmp_path: Path) -> None:
    run(*args, cwd=tmp_path).usage_error(fragment)
    assert list(tmp_path.iterdir()) == []


def test_demo_writes_a_ctl_and_itl_that_verify(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = run("demo", "--dir", directory)
    assert result.code == 0, str(result)
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("admin:show itl\n")
    assert "Parse ITL File" in result.stdout
    assert "The ITL file was verified successfully." in result.stdout
    names = {p.name for p in directory.iterdir()}
    assert {"CTLFile.tlv", "ITLFile.tlv", "CallManager.pem"} <= names
    assert not any(n.endswith(".tmp") for n in names)
    for pem in directory.glob("*.pem"):
        mode = stat.S_IMODE(pem.stat().st_mode)
        assert mode & 0o077 == 0, f"{pem.name} holds a private key but is {oct(mode)}"

    ctl = run("file", "show", directory / "CTLFile.tlv").ok().stdout
    assert "Parse CTL File" in ctl
    assert "The CTL file was verified successfully." in ctl
    run("file", "show", directory / "ITLFile.tlv").ok()

    ctl_json = show_json(directory / "CTLFile.tlv")
    assert (ctl_json["kind"], ctl_json["verified"], ctl_json["signer_record"]) == ("ctl", True, 0)
    itl_json = show_json(directory / "ITLFile.tlv")
    assert (itl_json["kind"], itl_json["verified"], itl_json["signer_record"]) == ("itl", True, 0)
    # The demo's files are usable as inputs of the other commands.
    assert itl_json["signer"]["name"] == ctl_json["signer"]["name"]
    rebuilt = tmp_path / "ITLFile.tlv"
    run("file", "build", rebuilt, "--signer", directory / "CallManager.pem").ok()
    run("file", "show", rebuilt).ok()

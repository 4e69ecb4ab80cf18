"""``phonetrust phone boot`` and ``phone fleet``: the installed script against a real cluster.

The lab cluster's publisher is served in this process (its own thread and
event loop, on free loopback ports) while the command runs in a subprocess,
as an administrator would run it against a CUCM node; ``--route`` sends the
addresses the cluster's files name (10.0.0.10:2445, cucm-pub:8443, ...) to
those ports. The subscriber is routed to a closed loopback port, so that no
packet ever leaves the machine. ``phone fleet`` serves the cluster itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from phonetrust.cli.main import cli
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.net.serve import Running, ServeOptions, run
from phonetrust.pki.pem import to_pem
from phonetrust.policy.domain import Device
from phonetrust.policy.models import model
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust
from phonetrust.service import inventory
from phonetrust.sim import storage
from phonetrust.testing.pki import make_identity, plain_name
from tests.cli.helpers import Result
from tests.cli.helpers import run as phonetrust
from tests.service.conftest import Lab
from tests.sim import itl, world

MAC = "001122334455"
NAME = f"SEP{MAC}"


def _closed_port() -> int:
    """A loopback UDP/TCP port nobody listens on (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    lab: Lab
    running: Running
    routes: tuple[str, ...]
    """``--route`` arguments that reach the served publisher, and nothing else."""

    def boot(self, *extra: str | Path) -> Result:
        return phonetrust(
            "phone", "boot", "--tftp", "10.0.0.10", "--mac", MAC, *self.routes, *extra
        )

    @property
    def itl_md5(self) -> str:
        data = self.lab.file("cucm-pub", "ITLFile.tlv")
        assert data is not None
        return hashlib.md5(data).hexdigest()  # what `show itl` prints


@pytest.fixture
def served(lab: Lab) -> Iterator[Served]:
    """The lab's publisher served from a thread, and one registered 8845 phone."""
    inventory.add_devices(lab.ctx, [Device(NAME, "8845")])
    started = threading.Event()
    holder: list[Running] = []
    stops: list[asyncio.Event] = []
    loops: list[asyncio.AbstractEventLoop] = []

    def ready(running: Running) -> None:
        holder.append(running)
        started.set()

    async def main() -> None:
        stop = asyncio.Event()
        stops.append(stop)
        loops.append(asyncio.get_running_loop())
        options = ServeOptions(
            node="cucm-pub", tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.1
        )
        await run(lab.ctx, options, ready=ready, stop=stop)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30)
    running = holder[0]
    routes: list[str] = []
    for service, port in running.ports.items():
        for name in ("10.0.0.10", "cucm-pub", "cucm-pub.lab.example"):
            routes += ["--route", f"{name}:{STANDARD_PORTS[service]}=127.0.0.1:{port}"]
    closed = _closed_port()
    for name in ("10.0.0.11", "cucm-sub1", "cucm-sub1.lab.example"):
        routes += ["--route", f"{name}=127.0.0.1:{closed}"]
    yield Served(lab, running, tuple(routes))
    loops[0].call_soon_threadsafe(stops[0].set)
    thread.join(30)


def test_boot_prints_console_status_verdicts_and_keeps_its_flash(
    served: Served, tmp_path: Path
) -> None:
    """The diagnostic a person reads, then a second boot of the same flash: the ITL stays."""
    flash = tmp_path / "phone"
    first = served.boot("--state", flash, "--url", "directory")
    assert first.code == 0, first
    assert first.stderr == "", first
    out = first.stdout
    for section in ("Console log:", "Status messages:", "Verdicts:"):
        assert section in out.splitlines(), first
    assert f"SECD: tlRequestFile: Request CTLSEP{MAC}.tlv" in out
    assert f"TFTP: [1]:Requesting CTLSEP{MAC}.tlv from 10.0.0.10" in out
    assert "ITL installed" in out
    assert f"  ITLSEP{MAC}.tlv: accepted (trusted on first use)" in out
    assert f"  {NAME}.cnf.xml.sgn: accepted" in out
    url_line = next(line for line in out.splitlines() if line.startswith("URL "))
    assert url_line.startswith("URL https://"), first
    assert ": HTTP 200" in url_line, first
    assert "TVS queries: 1 in all (0 during the boot)" in out.splitlines(), first  # the URL's
    assert out.splitlines()[-1] == (
        f"{NAME}: OK - CTL -, ITL {served.itl_md5}; configuration applied"
    )
    assert (flash / storage.ITL_FILE).read_bytes() == served.lab.file("cucm-pub", "ITLFile.tlv")
    saved, _ = storage.load(flash)
    assert saved.model.name == "8845"
    assert saved.tvs_servers, "the configuration's TVS servers are part of the flash"

    again = served.boot("--state", flash)
    assert again.code == 0, again
    assert f"  ITLSEP{MAC}.tlv: accepted (same file as the one installed)" in again.stdout
    assert "ITL installed" not in again.stdout
    assert again.stdout.splitlines()[-1].endswith(f"ITL {served.itl_md5}; configuration applied")
    assert (flash / storage.ITL_FILE).read_bytes() == served.lab.file("cucm-pub", "ITLFile.tlv")


def test_a_phone_holding_another_clusters_itl_is_locked_and_exits_1(
    served: Served, tmp_path: Path
) -> None:
    """An ITL signed elsewhere, and no TVS to ask: the cluster's ITL and config are refused."""
    flash = tmp_path / "moved"
    foreign = PhoneTrust(model("8845"), itl_file=InstalledList(itl(world().cm2)), has_mic=False)
    storage.save(flash, foreign)
    before = (flash / storage.ITL_FILE).read_bytes()
    result = served.boot("--state", flash)
    assert result.code == 1, result
    assert result.stderr == "", result
    assert f"  ITLSEP{MAC}.tlv: rejected" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"{NAME}: LOCKED - ITLSEP{MAC}.tlv: ")
    assert (flash / storage.ITL_FILE).read_bytes() == before, "a refused ITL leaves the old one"


def in_process(*args: str | Path) -> Result:
    """The command in this process (click's runner): usage errors need no server nor subprocess."""
    text_args = tuple(str(a) for a in args)
    done = CliRunner().invoke(cli, text_args, prog_name="phonetrust")
    return Result(text_args, done.exit_code, done.stdout, done.stderr)


def test_usage_errors_exit_2_naming_the_problem(tmp_path: Path) -> None:
    base = ("phone", "boot", "--tftp", "127.0.0.1")
    in_process(*base, "--mac", "00:11:22").usage_error("--mac", "is not a MAC address")
    in_process(*base, "--mac", MAC, "--route", "nonsense").usage_error(
        "--route", "expected NAME[:PORT]=HOST[:PORT]"
    )
    in_process(*base, "--mac", MAC, "--model", "1234").usage_error(
        "--model", "unknown model '1234'", "7975", "8845", "7960"
    )
    in_process("phone", "boot", "--tftp", "host:99999", "--mac", MAC).usage_error("--tftp")
    flash = tmp_path / "phone"
    storage.save(flash, PhoneTrust(model("7975"), has_mic=False))
    in_process(*base, "--mac", MAC, "--state", flash, "--model", "8845").usage_error(
        "--model", "is model 7975, not 8845"
    )


def test_an_unreachable_tftp_server_is_one_clear_line() -> None:
    port = _closed_port()
    line = phonetrust(
        "phone", "boot", "--tftp", f"127.0.0.1:{port}", "--mac", MAC, "--timeout", "1"
    ).failure("TFTP server", "unreachable")
    assert f"127.0.0.1:{port}" in line


def test_fleet_serves_the_cluster_and_counts_hashes_and_models(
    lab: Lab,
) -> None:
    """Three 8845 (Security By Default: the ITL) and two 7960 (none), all configured."""
    phones = [Device(f"SEP0011223344{i:02X}", "8845") for i in range(3)]
    phones += [Device(f"SEP00112233AA{i:02X}", "7960") for i in range(2)]
    inventory.add_devices(lab.ctx, phones)
    data = lab.where.root
    itl_file = lab.file("cucm-pub", "ITLFile.tlv")
    assert itl_file is not None
    md5 = hashlib.md5(itl_file).hexdigest()  # what `show itl` prints

    result = phonetrust("phone", "fleet", "--data", data, "--concurrency", "3")
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == "Phones booted: 5 (2 x 7960, 3 x 8845)", result
    itl_block = lines[lines.index("ITL (MD5):") + 1 : lines.index("CTL (MD5):")]
    assert [line.split() for line in itl_block] == [["3", md5], ["2", "none"]], result
    ctl_block = lines[lines.index("CTL (MD5):") + 1 : lines.index("Locked: 0")]
    assert [line.split() for line in ctl_block] == [["5", "none"]], result
    assert "Configuration applied: 5" in lines
    assert "TVS queries: 0" in lines
    assert lines[-1].startswith("Elapsed: "), result
    assert lines[-1].endswith(" phones/s)"), result
    assert "Booting 5 phones" in result.stderr

    some = in_process("phone", "fleet", "--data", data, "--models", "7960", "--count", "1")
    assert some.code == 0, some
    assert some.stdout.splitlines()[0] == "Phones booted: 1 (1 x 7960)"
    in_process("phone", "fleet", "--data", data, "--count", "9").failure(
        "--count 9", "only 5 devices"
    )
    in_process("phone", "fleet", "--data", data, "--models", "7975").failure(
        "no devices of models 7975"
    )
    in_process("phone", "fleet", "--data", data, "--models", "9999").usage_error("--models")


def test_a_mic_given_on_the_command_line_is_kept_in_the_flash(
    served: Served, tmp_path: Path
) -> None:
    mic = make_identity(plain_name(f"CP-8845-{NAME}"), bits=2048, slot=5)
    pem = tmp_path / "mic.pem"
    pem.write_bytes(to_pem(mic.certificate, mic.key))
    flash = tmp_path / "phone"
    result = served.boot("--state", flash, "--mic", pem)
    assert result.code == 0, result
    saved, keys = storage.load(flash)
    assert saved.has_mic
    assert keys.mic is not None
    assert keys.mic.certificate == mic.certificate
    assert keys.lsc is None
    bad = tmp_path / "bad.pem"
    bad.write_text("not a PEM")
    in_process("phone", "boot", "--tftp", "127.0.0.1", "--mac", MAC, "--mic", bad).usage_error(
        "--mic"
    )

"""``phonetrust device import``: every bad CSV is one line naming the file and line, and
nothing is imported; ``--skip-bad-rows`` imports the good rows and names each bad one.

Each bad row sits between two good ones, so a test also shows that a bad
row neither takes its neighbours with it (an unterminated quote used to
swallow the next line) nor lets them in on its own.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from tests.cli.helpers import Result
from tests.cli.test_cluster_commands import init_args, phonetrust

HEADER = "name,model,description\n"
BEFORE = "{prefix}A01,7975,before\n"
BAD = "{prefix}A02"
AFTER = "{prefix}A03,8845,after\n"
"""Each case has its own device names (``prefix`` is SEP and 9 hex digits), so no case
needs to clean up after itself."""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster") / "data"
    result = phonetrust(root, *init_args())
    assert result.code == 0, str(result)
    return root


def devices(data: Path) -> dict[str, str]:
    """Each device's name and the rest of its ``device list`` line."""
    listed = phonetrust(data, "device", "list").ok()
    return dict(line.split(maxsplit=1) for line in listed.stdout.splitlines())


def import_csv(data: Path, csv: Path, *extra: str) -> Result:
    return phonetrust(data, "device", "import", str(csv), *extra)


BAD_ROWS: dict[str, tuple[str, str, str]] = {
    # case: (the header, the bad row, what the error says)
    "not UTF-8": (HEADER, BAD + ",7975,caf\udce9\n", "not UTF-8 (byte 0xe9 at character 25)"),
    "a field over 131,072 characters": (
        HEADER,
        BAD + ",7975," + "x" * 131_073 + "\n",
        "a field is longer than 131072 characters",
    ),
    "a short row": (HEADER, BAD + ",7975\n", "2 fields where the header has 3: no description"),
    "a long row": (HEADER, BAD + ",7975,x,y\n", "4 fields where the header has 3"),
    "an unterminated quote": (HEADER, BAD + ',7975,"never closed\n', "unterminated quote"),
    "a NUL byte": (HEADER, BAD + ",7975,a\x00b\n", "column description: control character"),
    "an escape sequence": (HEADER, BAD + ",7975,\x1b[2J\n", "control character '\\x1b'"),
    "a tab": (HEADER, BAD + ",7975,a\tb\n", "control character '\\t' at character 2"),
    "a text direction override": (HEADER, BAD + ",7975,\u202eevil\n", "'\\u202e'"),
    "a control character in the name": (HEADER, BAD + "\x07,7975,x\n", "column name: control"),
    "a bad device name": (HEADER, "SEP0000,7975,x\n", "Invalid device name"),
    "no model": (HEADER, BAD + ", ,x\n", "a device needs a model"),
    "a bad protocol": (
        "name,model,protocol\n",
        BAD + ",7975,H323\n",
        "'H323' is not SIP or SCCP",
    ),
    "the same device twice": (HEADER, "{prefix}A01,7975,again\n", "is already on line 2"),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=str)
def test_a_bad_row_fails_the_import_naming_file_and_line(
    data: Path, tmp_path: Path, case: str
) -> None:
    header, row, reason = BAD_ROWS[case]
    prefix = f"SEP{list(BAD_ROWS).index(case) + 1:09X}"
    text = header + BEFORE + row + AFTER
    if header != HEADER:
        text = text.replace(",before", ",SIP").replace(",after", ",SIP")
    csv = tmp_path / "phones.csv"
    csv.write_bytes(text.format(prefix=prefix).encode("utf-8", "surrogateescape"))

    import_csv(data, csv).failure(f"{csv}: line 3: ", reason, "; nothing imported")

    # Had the failed run imported anything, these rows would be skipped as existing.
    skipped = import_csv(data, csv, "--skip-bad-rows")
    assert skipped.code == 0, str(skipped)
    assert skipped.stdout.splitlines()[-1] == "2 devices added, 1 bad rows skipped.", str(skipped)
    assert skipped.stderr.startswith(f"Skipped {csv}: line 3: "), str(skipped)
    assert reason in skipped.stderr, str(skipped)
    assert len(skipped.stderr.splitlines()) == 1, str(skipped)


def test_rows_the_cluster_refuses_fail_the_import_too(data: Path, tmp_path: Path) -> None:
    csv = tmp_path / "phones.csv"
    csv.write_bytes(
        b"name,model,group\n"
        b"SEP0000000BB001,7975,\n"
        b"SEP0000000BB002,7975,Nope\n"
        b"SEP0000000BB003,7975,Default\n"
    )
    import_csv(data, csv).failure(f"{csv}: line 3: Unknown CallManager group 'Nope'")
    skipped = import_csv(data, csv, "--skip-bad-rows")
    assert skipped.code == 0, str(skipped)
    assert skipped.stdout.splitlines()[-1] == "2 devices added, 1 bad rows skipped."
    assert skipped.stderr == f"Skipped {csv}: line 3: Unknown CallManager group 'Nope'\n"
    import_csv(data, csv).failure(
        f"{csv}: line 2: Device SEP0000000BB001 already exists (and 2 more bad rows)"
    )


def test_every_bad_row_is_reported_and_the_row_after_a_quote_is_not_swallowed(
    data: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "phones.csv"
    csv.write_bytes(
        HEADER.encode()
        + b'SEP0000000CC001,7975,"open quote\n'
        + b"SEP0000000CC002,8845,kept\n"
        + b"SEP0000000CC003,7975\n"
        + b"SEP0000000CC004,7975,nul\x00\n"
    )
    import_csv(data, csv).failure(f"{csv}: line 2: unterminated quote", "(and 2 more bad rows)")
    skipped = import_csv(data, csv, "--skip-bad-rows")
    assert skipped.code == 0, str(skipped)
    assert skipped.stdout.splitlines()[-1] == "1 devices added, 3 bad rows skipped."
    assert [line.split(": ")[1] for line in skipped.stderr.splitlines()] == [
        "line 2",
        "line 4",
        "line 5",
    ]
    listed = devices(data)
    assert listed["SEP0000000CC002"].startswith("8845")
    assert not {"SEP0000000CC001", "SEP0000000CC003", "SEP0000000CC004"} & set(listed)


def test_a_good_csv_with_bom_crlf_quotes_and_blank_lines_is_imported(
    data: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "phones.csv"
    csv.write_bytes(
        codecs.BOM_UTF8
        + b"Name,Model,Protocol,Description\r\n"
        + b'SEP0000000DD001,7975,sccp,"Lobby, east"\r\n'
        + b"\r\n"
        + "SEP0000000DD002,8845,,Caf\u00e9\r\n".encode()
    )
    result = import_csv(data, csv)
    assert result.code == 0, str(result)
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1] == "2 devices added."
    listed = devices(data)
    assert listed["SEP0000000DD001"].split()[:2] == ["7975", "SCCP"]
    assert listed["SEP0000000DD002"].split()[:2] == ["8845", "SIP"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "line 1: the CSV needs a header row naming at least name and model"),
        (b"name\nSEP0000000EE001\n", "(missing: model)"),
        (b"name,model,colour\n", "line 1: unknown CSV columns: colour"),
        (b"name,model,name\n", "line 1: the header names name twice"),
        (b"name,mod\xe8le\n", "line 1 (the header): not UTF-8 (byte 0xe8 at character 9)"),
        (b'name,"model\n', "line 1 (the header): unterminated quote"),
    ],
    ids=["empty", "no model", "unknown", "twice", "not UTF-8", "quote"],
)
def test_a_bad_header_fails_on_one_line(tmp_path: Path, content: bytes, reason: str) -> None:
    csv = tmp_path / "phones.csv"
    csv.write_bytes(content)
    # Read and refused before the data directory is opened: none is needed.
    nowhere = tmp_path / "no-cluster"
    for extra in ((), ("--skip-bad-rows",)):
        phonetrust(nowhere, "device", "import", str(csv), *extra).failure(f"{csv}: ", reason)


def test_an_oversized_csv_is_refused_unread(tmp_path: Path) -> None:
    """/dev/zero is in tests/attacks/test_cli_input.py, where memory is capped."""
    nowhere = tmp_path / "no-cluster"
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as out:
        out.write(HEADER.encode())
        out.truncate(64 * 1024 * 1024 + 1)  # sparse: nothing is written to disk
    phonetrust(nowhere, "device", "import", str(huge)).failure(f"{huge}: larger than 64 MiB")

"""Enterprise parameters: the stored text and the typed value the rules read agree both ways."""

from __future__ import annotations

import re

import pytest

from phonetrust.errors import LocalError
from phonetrust.formats.algorithms import Digest
from phonetrust.policy import params as P
from phonetrust.policy.params import EnterpriseParams

CASES = [
    ({}, EnterpriseParams()),
    (
        {
            P.ROLLBACK: "True",
            P.TFTP_DIGEST: "SHA-512",
            P.CAPF_EXPIRY_DAYS: "3",
            P.TVS_TTL: "600",
            P.AUTO_REGISTRATION: "False",
            P.ALTERNATE_FILE_SERVERS: "tftp-b, 10.1.1.1:1069",
        },
        EnterpriseParams(
            rollback=True,
            tftp_digest=Digest.SHA512,
            capf_expiry_days=3,
            tvs_ttl=600,
            auto_registration=False,
            alternate_file_servers=(("tftp-b", 69), ("10.1.1.1", 1069)),
        ),
    ),
]


@pytest.mark.parametrize(("stored", "typed"), CASES)
def test_stored_text_and_typed_value_round_trip(
    stored: dict[str, str], typed: EnterpriseParams
) -> None:
    assert EnterpriseParams.from_stored(stored) == typed
    assert EnterpriseParams.from_stored(typed.stored()) == typed
    for name, text in stored.items():
        assert typed.stored()[name] == P.PARAMS[name].normalise(text)


def test_defaults_are_the_parameter_table_defaults() -> None:
    defaults = {name: p.default for name, p in P.PARAMS.items()}
    assert EnterpriseParams.from_stored(defaults) == EnterpriseParams()
    assert EnterpriseParams().stored() == {n: defaults[n] for n in EnterpriseParams().stored()}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (P.ROLLBACK, "maybe"),
        (P.TFTP_DIGEST, "MD5"),
        (P.CAPF_EXPIRY_DAYS, "0"),
        (P.TVS_TTL, "ten"),
        (P.ALTERNATE_FILE_SERVERS, "bad host!"),
    ],
)
def test_a_stored_value_no_param_set_could_write_is_named(name: str, text: str) -> None:
    with pytest.raises(
        LocalError, match=re.escape(f"enterprise parameter '{name}' holds '{text}'")
    ):
        EnterpriseParams.from_stored({name: text})


@pytest.mark.parametrize(
    "changes",
    [{"tftp_digest": Digest.SHA256}, {"capf_expiry_days": 0}, {"tvs_ttl": -1}],
)
def test_a_value_param_set_would_refuse_cannot_be_built(changes: dict[str, object]) -> None:
    with pytest.raises(LocalError):
        EnterpriseParams(**changes)  # type: ignore[arg-type]

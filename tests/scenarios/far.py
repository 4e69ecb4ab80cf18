"""A second, one-node cluster for the scenarios that move phones between clusters (E).

Its template is built once per session (as the lab's is); each test gets a
private copy at the lab's clock. The fixtures are re-exported by the
conftest files of the suites that use them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonetrust.pki.selfsigned import Organisation
from phonetrust.policy.domain import Node, SignerOption, check_ipv4
from phonetrust.service import nodes
from phonetrust.store.datadir import DataDir
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import new_context, open_context
from tests.service.conftest import PASSWORD, START, Lab

FAR_PUB = Node("far-pub", check_ipv4("10.0.2.10"), "far.example")


def build_cluster(
    root: Path, name: str, publisher: Node, *, signer: SignerOption = SignerOption.CALLMANAGER
) -> Path:
    """A one-node cluster in data directory ``root`` (as the lab template is made)."""
    ctx = new_context(DataDir.locate(root), PASSWORD, FakeClock(START))
    nodes.init_cluster(
        ctx, name=name, publisher_node=publisher, subscribers=[], org=Organisation(), signer=signer
    )
    ctx.repo.close()
    return root


def copy_cluster(template_root: Path, root: Path) -> Lab:
    """A private copy of a cluster template, at the lab's clock."""
    shutil.copytree(template_root, root)
    where = DataDir.locate(root)
    clock = FakeClock(START + 3600)
    return Lab(where, open_context(where, clock), clock)


@pytest.fixture(scope="session")
def far_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cluster(tmp_path_factory.mktemp("far") / "data", "far", FAR_PUB)


@pytest.fixture
def far(far_template: Path, tmp_path: Path) -> Iterator[Lab]:
    cluster = copy_cluster(far_template, tmp_path / "far")
    yield cluster
    cluster.ctx.repo.close()

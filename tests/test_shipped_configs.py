"""Every config genfw ships validates as it stands: a key renamed or a bound tightened in a plugin
cannot leave a config in configs/ that `genfw run` would refuse."""

from __future__ import annotations

import pytest

from genfw_testing import REPO
from genfw.session import load_config_and_plugins

SHIPPED = sorted((REPO / "configs").glob("*.json"))


def test_the_shipped_configs_are_found():
    assert {"infogan_mnist.json", "dcgan_mnist.json", "infogan_mnist_semisupervised.json"} <= {p.name for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_each_shipped_config_validates(path):
    _, resolved = load_config_and_plugins(path)
    assert resolved.config.name == path.stem  # the run folder is named after it

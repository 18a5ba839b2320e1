"""The projection head's pieces in genfw.api: the class embedding and the width it must match."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genfw.api import ClassProjection, ConfigValueError, features_read_by


def test_features_read_by_takes_the_heads_first_linear_or_its_stated_width():
    assert features_read_by(nn.Linear(7, 1)) == 7
    assert features_read_by(nn.utils.parametrizations.spectral_norm(nn.Linear(5, 1))) == 5
    assert features_read_by(nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))) == 6
    spread = nn.Linear(9, 1)
    spread.features = 8  # a head that appends a minibatch spread reads 8 features, not 9
    assert features_read_by(nn.Sequential(spread)) == 8


def test_a_head_whose_width_cannot_be_known_is_a_config_error_at_the_discriminator():
    head = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(7, 1))  # the Linear's 7 is not the trunk's width
    with pytest.raises(ConfigValueError, match="d_head reads") as caught:
        features_read_by(head)
    assert caught.value.path == "networks.discriminator"


def test_the_projection_is_the_inner_product_of_the_class_row_with_the_features():
    torch.manual_seed(0)
    projection = ClassProjection(3, 4)
    h = torch.randn(5, 4)
    onehot = torch.eye(3)[[0, 1, 2, 1, 0]]
    # Spectrally normalised: in train mode each use refines the estimate of the largest singular value.
    for _ in range(20):
        projection.project(onehot, h)
    projection.eval()  # the weight no longer changes from one use to the next
    assert torch.linalg.matrix_norm(projection.weight.detach(), ord=2) == pytest.approx(1.0, abs=0.01)
    expected = (projection.weight[[0, 1, 2, 1, 0]] * h).sum(dim=1)
    assert torch.allclose(projection.project(onehot, h), expected, atol=1e-6)
    assert torch.equal(projection.project(torch.zeros(5, 3), h), torch.zeros(5))  # an unknown class: nothing
    assert "parametrizations.weight.original" in projection.state_dict()

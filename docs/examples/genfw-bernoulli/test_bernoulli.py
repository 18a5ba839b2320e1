import math

import torch

from genfw.api import CodeContext
from genfw_bernoulli import BernoulliCode, BernoulliParams


def test_bernoulli_code():
    code = BernoulliCode(BernoulliParams(dim=2, p=0.5), CodeContext("bits"))
    x = code.sample(8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 2) and x.dtype == torch.float32
    assert torch.equal(x, code.sample(8, torch.Generator().manual_seed(0)))  # seeded: reproducible
    assert torch.equal(code.encode(x), x * 2 - 1)  # fed to the generator as -1/+1
    # A prediction that knows nothing (logits 0) costs exactly the prior's entropy, 2 ln 2.
    nll = code.nll(torch.zeros(8, 2), x)
    assert nll.shape == (8,) and torch.allclose(nll, torch.full((8,), 2 * math.log(2)))
    assert math.isclose(code.entropy(), 2 * math.log(2))
    assert code.traversal(9).column_labels == ["00", "10", "01", "11"]

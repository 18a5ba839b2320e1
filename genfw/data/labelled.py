"""Which training images keep their label when a run trains with only some labels (semi-supervised)."""

from __future__ import annotations

import torch

from genfw.batch import UNLABELLED


def keep_labels(labels: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``labels`` with all but ``count`` of them set to :data:`UNLABELLED`.

    The kept images are a seeded choice, balanced over the classes as far as the classes allow
    (100 of MNIST's labels: 10 per digit), the way semi-supervised benchmarks pick them. The
    choice depends only on (labels, count, seed), so every process and every resume agrees.
    """
    n = labels.shape[0]
    if count >= n:
        return labels
    g = torch.Generator().manual_seed(seed * 7919 + 17)
    order = torch.randperm(n, generator=g)
    shuffled = labels[order]
    # Rank each image within its class in the shuffled order; keeping the lowest ranks first
    # takes one image of every class, then a second of every class, and so on.
    rank = torch.empty(n, dtype=torch.long)
    for cls in torch.unique(shuffled):
        where = (shuffled == cls).nonzero().view(-1)
        rank[where] = torch.arange(where.numel())
    unknown = shuffled < 0
    rank[unknown] = n  # images without a label to begin with come last
    keep = order[torch.argsort(rank * n + torch.arange(n), stable=True)[:count]]
    out = torch.full_like(labels, UNLABELLED)
    out[keep] = labels[keep]
    return out

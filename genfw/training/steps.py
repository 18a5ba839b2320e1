"""A run's steps as functions of its seed and config alone, so resuming needs no state for them:
how many steps it trains, each epoch's data order, each process's training-RNG seed.
"""

from __future__ import annotations

from typing import Any

import torch


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The training-RNG seed of process ``rank``: the run's seed itself for rank 0 (so one process
    trains exactly as genfw always did), distinct streams for the others."""
    if rank == 0 and step == 0:
        return seed
    return (seed + rank * 0x9E3779B97F4A7C15 + step * 0x632BE59BD9B4E019) % 2**63


def total_steps(train_cfg: Any, n_images: int) -> int:
    """How many batches a run trains: ``epochs`` full passes, or ``max_steps`` if fewer."""
    total = train_cfg.epochs * (n_images // train_cfg.batch_size)
    return min(total, train_cfg.max_steps) if train_cfg.max_steps else total


def epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The data order of one epoch: a function of (seed, epoch) only, so resuming needs no state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)

"""Training the reference classifier (``genfw.metrics.reference_net``) on a labelled dataset.

Training is CPU-only and reproducible: the weights are initialised under ``torch.manual_seed(seed)``
inside ``torch.random.fork_rng()`` (so the caller's global RNG is untouched) and batches are
shuffled by an explicit ``torch.Generator``. The net contains no dropout, so nothing else draws
random numbers. bf16 autocast is not used: on CPUs without native bf16 it is slower, not faster.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from genfw.data.base import ImageDataset
from genfw.metrics.reference_net import ReferenceNet, as_float_images, num_classes_of

# Bump whenever the architecture or the training recipe changes: it is part of the cache key.
REFERENCE_NET_VERSION = "refnet-v1:c16-bn-c32-bn-fc128:adam-onecycle-4e-3:e3:b128"
#: The recipe of the net for any other shape or number of classes (also part of its cache key).
GENERAL_VERSION = "refnet-general-v1:c16-c32-c64-c128-bn-adaptive4x4-fc128:adam-onecycle-4e-3:e3-min300steps:b128"
#: Training steps the general net takes at least (small datasets get more epochs).
MIN_STEPS = 300


def train_reference_net(
    train: ImageDataset,
    *,
    seed: int = 0,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 4e-3,
    threads: int | None = None,
    num_classes: int | None = None,
) -> ReferenceNet:
    """Train the reference classifier on a labelled dataset; returns the model in eval mode.

    Deterministic for a given (data, seed, threads). ``threads`` sets torch's intra-op threads
    for the duration of training only (default: the current setting, e.g. the run's
    ``train.threads``); the previous setting is restored afterwards. ``num_classes`` defaults to
    the dataset's. The general (non-MNIST) net trains at least :data:`MIN_STEPS` steps.
    """
    if train.labels is None:
        raise ValueError(f"dataset {train.name!r} has no labels; the reference net needs them")
    classes = num_classes or num_classes_of(train)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads or prev_threads)
    try:
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            model = ReferenceNet(train.image_shape, classes)
        # channels_last makes the CPU convolutions about twice as fast.
        model = model.to(memory_format=torch.channels_last)
        x_all = as_float_images(train.images, model.image_shape[0]).contiguous(memory_format=torch.channels_last)
        y_all = train.labels.long()
        n = len(train)
        steps_per_epoch = (n + batch_size - 1) // batch_size
        if not model.mnist:
            epochs = max(epochs, -(-MIN_STEPS // steps_per_epoch))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(steps_per_epoch):
                idx = perm[i * batch_size : (i + 1) * batch_size]
                loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    finally:
        torch.set_num_threads(prev_threads)
    return model.eval()

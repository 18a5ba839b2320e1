"""Data-parallel training across processes that torchrun (PyTorch's launcher) starts.

genfw never starts processes itself: ``torchrun --nproc_per_node N -m genfw run CONFIG`` (or
``genfw run CONFIG --nproc N``, which execs exactly that) starts N copies of the command, and
each joins the process group from the environment torchrun sets (RANK, WORLD_SIZE,
MASTER_ADDR, ...). Then:

- every rank builds the same model from the same seed, and rank 0's weights are broadcast so the
  start is identical even if initialisation differed;
- each step, every rank takes its own slice of the same global batch (the data order is a
  function of seed and epoch), so ``train.batch_size`` stays the global batch;
- gradients are averaged over the ranks at every optimizer step (``Model.step``), only for the
  parameters that have a gradient: a frozen network is never synchronised, and a model may run
  any number of forward passes, call sub-networks on their own and use several optimizers;
- BatchNorm layers use the statistics of the whole global batch (torch's SyncBatchNorm on GPUs,
  :class:`CPUSyncBatchNorm` with gloo on CPUs, which torch's does not support);
- only rank 0 writes the run folder; checkpoints hold no per-rank weights, so a run resumes on
  any number of processes.

Why not wrap networks in ``DistributedDataParallel``: DDP synchronises gradients in hooks that
expect one forward through the wrapper per backward, with the same parameters taking part every
time. GAN models call sub-networks directly (a discriminator's trunk, then its heads), run two
backward passes per step with different parameters frozen, and would need to know about the
wrapper. Averaging at the optimizer step is the same arithmetic as DDP's all-reduce, keeps
models unaware of distribution, and cannot miss a parameter or sync a frozen one.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import torch
import torch.distributed as dist
from torch import nn

from genfw.training.launch import ProcessesLostError

#: The environment torchrun sets for each process it starts.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

_F = TypeVar("_F", bound=Callable)


def collective(func: _F) -> _F:
    """A collective's failure as what it means: another process is gone (killed, or stopped on
    an error of its own). gloo and NCCL raise a RuntimeError (torch's DistError is one) naming a
    socket; the process that left says why, and genfw's launcher prefers its word to this one."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RuntimeError as exc:
            raise ProcessesLostError(
                f"lost contact with the other training processes (one stopped or was killed; "
                f"its own message, or torchrun's summary, says why): {exc}"
            ) from exc

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Distributed:
    """Where this process stands among the ones torchrun started (rank 0 of 1 when alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Distributed()


def from_environment() -> Distributed:
    """The rank and world size torchrun set (alone when they are not set)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return SINGLE
    return Distributed(rank, world, local) if world > 1 else SINGLE


def init(info: Distributed, device: torch.device) -> None:
    """Join the process group (NCCL on GPUs, gloo on CPUs) if torchrun started several processes."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))


def shutdown() -> None:
    """Leave the process group. Called in ``finally`` blocks: when another process is gone this
    may fail too, and must not hide the error that is on its way out."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except RuntimeError:
            pass


@collective
def broadcast_state(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


class GradientAverager:
    """Averages, over all ranks, the gradients an optimizer is about to apply: one all-reduce of
    the flattened gradients per dtype (the arithmetic of DDP's reducer)."""

    def __init__(self, world_size: int):
        self.world_size = world_size

    @collective
    @torch.no_grad()
    def __call__(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for g in grads:
            by_dtype.setdefault(g.dtype, []).append(g)
        for same in by_dtype.values():
            flat = torch.cat([g.reshape(-1) for g in same])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat.div_(self.world_size)
            offset = 0
            for g in same:
                n = g.numel()
                g.copy_(flat[offset : offset + n].view_as(g))
                offset += n


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) in the forward pass and in the backward pass: the gradient of a sum over
    ranks with respect to each rank's part is the sum of the gradients every rank received."""

    @staticmethod
    @collective
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    @collective
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.contiguous().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the whole global batch for CPU processes (gloo), which torch's SyncBatchNorm
    does not support: the per-channel sums are all-reduced with an autograd-aware collective, so
    gradients flow through the shared statistics exactly as in single-process BatchNorm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor(float(x.numel() // x.shape[1]), dtype=x.dtype)
        local = torch.cat([x.sum(dims), (x * x).sum(dims), count.reshape(1)])
        total = _SumOverRanks.apply(local)
        c = x.shape[1]
        n = total[2 * c]
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None  # tracked: all three exist
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / max(float(n) - 1, 1.0), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm layer by one that normalises over the global batch."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        out = CPUSyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        with torch.no_grad():
            if module.affine:
                out.weight.copy_(module.weight)
                out.bias.copy_(module.bias)
            if module.track_running_stats:
                # torch types BatchNorm's statistics as optional; with track_running_stats they exist.
                for name in ("running_mean", "running_var", "num_batches_tracked"):
                    cast(torch.Tensor, getattr(out, name)).copy_(cast(torch.Tensor, getattr(module, name)))
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child, device))
    return out


@collective
def all_reduce_max(value: torch.Tensor) -> torch.Tensor:
    """The largest of a scalar over all ranks (e.g. a stop or divergence flag), on every rank."""
    out = value.clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out


@collective
def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


@collective
def gather_objects(obj: object) -> list[object] | None:
    """Every rank's ``obj`` on rank 0 (None elsewhere)."""
    out: list[object] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out

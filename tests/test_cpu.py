"""genfw.cpu: the kernel kind a process computes with, which decides bit-exact reproducibility,
and the autocast detail that makes bf16 safe for models that step an optimizer mid-step."""

from __future__ import annotations

import subprocess
import sys

import torch
from pydantic import BaseModel
from torch import nn

from genfw.contexts import ModelContext
from genfw.cpu import KernelKind, cpu_model_name, kernel_kind, onednn_isa
from genfw.latent import LatentSpec
from genfw.model import DataSpec, Model

AVX512_BF16_FLAGS = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}


def test_onednn_isa_follows_the_flags_and_the_cap():
    assert onednn_isa({"avx2", "fma"}) == "avx2"
    assert onednn_isa(AVX512_BF16_FLAGS) == "avx512_core_bf16"
    assert onednn_isa(AVX512_BF16_FLAGS | {"amx_tile", "amx_bf16", "amx_int8"}) == "avx512_core_amx"
    assert onednn_isa(AVX512_BF16_FLAGS, "AVX2") == "avx2"
    assert onednn_isa({"avx2", "fma"}, "AVX512_CORE_AMX") == "avx2"  # a cap never raises the set
    assert onednn_isa(AVX512_BF16_FLAGS, "ALL") == "avx512_core_bf16"
    assert onednn_isa(set()) == "none"


def test_a_kind_can_imitate_older_kinds_only():
    avx2, avx512 = KernelKind("avx2", "avx2"), KernelKind("avx512", "avx512_core_bf16")
    assert avx2.name == "avx2" and avx512.name == "avx512+avx512_core_bf16"
    assert avx512.can_imitate(avx2) and avx512.can_imitate(avx512)
    assert not avx2.can_imitate(avx512)
    assert not avx512.can_imitate(KernelKind("avx512", "avx512_core_amx"))
    assert KernelKind.from_json(avx512.to_json()) == avx512
    assert avx2.environment == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_the_environment_of_an_older_kind_makes_a_new_process_compute_like_it():
    here = kernel_kind()
    target = KernelKind("avx2", "avx2")
    assert here.can_imitate(target) or here.aten == "default", here  # every x86-64 CI machine has AVX2
    env = {**target.environment, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", "from genfw.cpu import kernel_kind; print(kernel_kind().name)"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == "avx2"
    assert cpu_model_name() and isinstance(cpu_model_name(), str)


class _NoParams(BaseModel):
    pass


class _OneLayer(Model):
    def __init__(self):
        super().__init__(_NoParams(), ModelContext(LatentSpec([]), DataSpec((1, 1, 8)), {}))
        self.net = nn.Linear(8, 8)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.5)

    def train_step(self, batch, rng):
        return {}

    @property
    def generator(self):
        return self.net


def test_a_network_called_again_after_its_optimizer_step_sees_its_new_weights():
    """Autocast caches the bf16 copy of each weight for its whole context (the trainer's spans the
    train step): without Model.step clearing it, a second critic step would use stale weights."""
    model = _OneLayer()
    x = torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.net(x).float().pow(2).mean().backward()
        model.step(model.opt)
        after = model.net(x).float()
    with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        fresh = model.net(x).float()
    assert torch.equal(after, fresh)

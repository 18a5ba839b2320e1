"""genfw's built-in plugin: the latent-code types and datasets that ship with the core.

It registers through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from genfw.codes.categorical import CategoricalCode, CategoricalParams
from genfw.codes.gaussian import GaussianCode, GaussianParams
from genfw.codes.noise import NoiseCode, NoiseParams
from genfw.data.mnist import MNISTParams, mnist_dataset
from genfw.hookspecs import hookimpl


@hookimpl
def register_latent_codes(register):
    register("noise", NoiseCode, params=NoiseParams, description="Unstructured noise, N(0,1) or U(-1,1); not predicted by Q")
    register("categorical", CategoricalCode, params=CategoricalParams, description="One-hot code, uniform over k categories; Q: logits")
    register("gaussian", GaussianCode, params=GaussianParams, description="Continuous code, U(-1,1) or N(0,1); Q: mean and clamped log-variance")


@hookimpl
def register_datasets(register):
    register("mnist", mnist_dataset, params=MNISTParams, description="MNIST handwritten digits (torchvision), 1x28x28, in memory")

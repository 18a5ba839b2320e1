"""The shape of a run config: :class:`RunConfig` and its sections (pydantic, ``extra="forbid"``).

Component sections hold a ``type`` (a registered name) and that component's params, which its
plugin's params model validates (``genfw.config.resolution``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genfw.names import NAME_PATTERN, NAME_RULE


class Component(BaseModel):
    """A component reference: ``{"type": "<registered name>", ...its params}``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(..., min_length=1, description="A registered name (see `genfw plugins`)")

    def params_dict(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LatentEntry(Component):
    """One latent code: ``{"name": "digit", "type": "categorical", "k": 10}``."""

    name: str = Field(
        ..., pattern=NAME_PATTERN, description=f"The code's name: an ONNX input name, used in --code ({NAME_RULE})"
    )


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(
        128,
        gt=0,
        le=1_000_000,
        description="The global batch: with N processes, each takes "
        "batch_size / N of it (batch_size must be divisible by N)",
    )
    epochs: int = Field(1, ge=1, description="Passes over the dataset (an epoch = len(dataset) // batch_size steps)")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many steps (overrides epochs when smaller)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 where the hardware has native bf16 (CUDA with bf16, CPUs with avx512_bf16 or "
        "amx_bf16), else fp32 (the run's first line says which and why); fp16 needs CUDA",
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto: cuda if available, else cpu")
    threads: int | None = Field(None, gt=0, description="CPU threads for torch (default: all cores)")
    channels_last: bool = Field(False, description="Use channels-last memory format for conv layers")
    sync_batchnorm: bool = Field(
        True,
        description="With several processes (torchrun), BatchNorm uses the statistics "
        "of the whole global batch; false: each process's own slice",
    )
    compile: bool = Field(False, description="Wrap the train step in torch.compile")
    log_every: int = Field(50, gt=0, description="Steps between metrics.jsonl lines (and divergence checks)")
    divergence_limit: float | None = Field(
        1e8,
        gt=0,
        description="Stop the run when a logged value's magnitude exceeds "
        "this (non-finite values always stop it); null: only non-finite values",
    )
    checkpoint_every: int = Field(1000, gt=0, description="Steps between checkpoints (one is also written at the end)")
    sample_every_epoch: bool = Field(True, description="Write a sample grid from fixed latents after each epoch")
    progress: bool = Field(True, description="Show a progress bar on a terminal")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field("runs", description="Parent folder of run directories")
    run_dir: str | None = Field(None, description="Exact run directory (default: <dir>/<name>-<time>)")


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    onnx: bool = Field(True, description="Export generator.onnx at the end of the run")
    opset: int = Field(18, ge=18, description="ONNX opset")
    optimize: bool = Field(True, description="Fold BatchNorm and rewrite 1x1-input layers as matmuls")


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_end: bool = Field(True, description="Run `genfw eval` at the end of the run")
    per_epoch: bool = Field(True, description="Log the model's per-epoch metrics (Model.epoch_metrics) each epoch")
    samples: int = Field(
        10000, ge=100, le=1_000_000, description="Generated samples for distance metrics (at least 100)"
    )
    held_out: int | None = Field(
        None,
        ge=100,
        le=100_000_000,
        description="Measure on at most this many held-out images (smoke runs); null: the whole held-out split",
    )
    disentanglement: Literal["reference", "fast"] = Field(
        "reference",
        description="Disentanglement metrics as the reference study computes them (disentanglement_lib: "
        "DCI with gradient-boosted classifiers, SAP discrete), or 'fast' (DCI with regression trees, SAP continuous: "
        "about 20x less CPU on dSprites, numbers not comparable with the literature)",
    )


class RunConfig(BaseModel):
    """A whole run. See configs/ for examples and `genfw schema` for all fields."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        ..., pattern=NAME_PATTERN, description=f"Run name; the run directory starts with it ({NAME_RULE})"
    )
    seed: int = Field(0, ge=0, lt=2**63, description="The one seed that drives every random draw")
    dataset: Component
    latent: list[LatentEntry] = Field(..., min_length=1, description="The latent codes, in generator-input order")
    model: Component
    networks: dict[str, Component] = Field(..., description="Networks by role, e.g. generator, discriminator")
    losses: dict[str, Component] = Field(default_factory=dict, description="Losses by role, e.g. adversarial, info")
    augmentations: dict[str, Component] = Field(
        default_factory=dict, description="Augmentations by role, e.g. discriminator: what D sees"
    )
    optimizers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Optimizer settings by role (overrides of the model's defaults: type, lr, betas, ...)",
    )
    loggers: list[Component] = Field(
        default_factory=lambda: [Component(type="console")],
        description="Where scalars and figures go besides metrics.jsonl: console, tensorboard, ...",
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    plugins_dirs: list[str] = Field(
        default_factory=list,
        description="Local plugin folders (relative to the config file). A run records them, and any --plugins-dir, "
        "as absolute paths, so resume, export and eval find the same plugins.",
    )


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (component params are plugin-defined: see `genfw plugins`)."""
    return RunConfig.model_json_schema()

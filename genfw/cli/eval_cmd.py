"""``genfw eval RUN_DIR``: measure what a trained generator learned (writes eval.json)."""

from __future__ import annotations

import click

from genfw.cli.common import SEED, handle_errors, plugins_dir_option


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--samples", type=click.IntRange(min=100), help="Generated samples for distances (default: the config's eval.samples).")
@click.option("--seed", type=SEED, help="Seed of every draw (default: the run's seed + 1000).")
@plugins_dir_option
@handle_errors
def eval_(run_dir: str, samples: int | None, seed: int | None, plugins_dirs: tuple[str, ...]) -> None:
    """Evaluate the run in RUN_DIR: Q accuracy/NMI/ARI on the real test set, code consistency,
    Frechet classifier distance and KID against the real-vs-real floor, class-histogram entropy,
    and what each continuous code does to slant and stroke width."""
    from genfw.evaluation import evaluate_run

    evaluate_run(run_dir, samples=samples, seed=seed, plugins_dirs=plugins_dirs)

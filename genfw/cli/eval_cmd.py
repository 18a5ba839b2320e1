"""``genfw eval RUN_DIR``: measure what a trained generator learned (writes eval.json)."""

from __future__ import annotations

import click

from genfw.cli.common import SEED, handle_errors, plugins_dir_option, trust_option


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--samples", type=click.IntRange(min=100), help="Generated samples for distances (default: the config's eval.samples).")
@click.option("--seed", type=SEED, help="Seed of every draw (default: the run's seed + 1000).")
@plugins_dir_option
@trust_option
@handle_errors
def eval_(run_dir: str, samples: int | None, seed: int | None, plugins_dirs: tuple[str, ...], trust_recorded: bool) -> None:
    """Evaluate the run in RUN_DIR into RUN_DIR/eval.json: for every model, Frechet classifier
    distance and KID of its samples against the real-vs-real floor and the entropy of their
    classes (when the dataset has labels), then the model's own sections (e.g. how well a
    network reads the codes off real images, a VAE's held-out ELBO)."""
    from genfw.evaluation import evaluate_run

    evaluate_run(run_dir, samples=samples, seed=seed, plugins_dirs=plugins_dirs, trust_recorded=trust_recorded)

"""``genfw eval RUN_DIR``: measure what a trained generator learned (writes eval.json)."""

from __future__ import annotations

from pathlib import Path

import click

from genfw.cli.common import SEED, handle_errors, plugins_dir_option, trust_option
from genfw.errors import CheckpointError


def require_checkpoint(run_dir: Path) -> None:
    """A model's own sections measure more than the generator (a network that reads codes off images, a VAE's
    encoder), so eval reads the whole model, which only the run's checkpoint holds: say so, and
    suggest commands that work, rather than the generic "pass generator.pt", which eval cannot use."""
    from genfw.artifacts import CHECKPOINT_DIR, GENERATOR_FILE, LAST_CHECKPOINT

    checkpoint = Path(CHECKPOINT_DIR) / LAST_CHECKPOINT
    if (run_dir / checkpoint).is_file():
        return
    sample = (
        f"; `genfw sample {run_dir}` draws from its {GENERATOR_FILE}" if (run_dir / GENERATOR_FILE).is_file() else ""
    )
    raise CheckpointError(
        f"no {checkpoint} here, and genfw eval needs it: it measures the whole trained model, which only "
        f"a run's checkpoint holds ({GENERATOR_FILE} holds the generator alone)",
        where=str(run_dir),
        fix=f"pass the folder of a run that saved a checkpoint: genfw eval RUN_DIR{sample}",
    )


@click.command("eval")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--samples",
    type=click.IntRange(min=100),
    help="Generated samples for distances (default: the config's eval.samples).",
)
@click.option("--seed", type=SEED, help="Seed of every draw (default: the run's seed + 1000).")
@click.option(
    "--compare",
    "other",
    type=click.Path(exists=True, path_type=Path),
    metavar="RUN_B",
    help="Evaluate nothing: print RUN_DIR's eval.json and RUN_B's side by side (refused when their scores "
    "were made differently: seed, samples, reference classifier, metric settings).",
)
@plugins_dir_option
@trust_option
@handle_errors
def eval_(
    run_dir: Path,
    samples: int | None,
    seed: int | None,
    other: Path | None,
    plugins_dirs: tuple[str, ...],
    trust_recorded: bool,
) -> None:
    """Evaluate the run in RUN_DIR into RUN_DIR/eval.json: for every model, Frechet classifier
    distance and KID of its samples against the real-vs-real floor and the entropy of their
    classes (when the dataset has labels), then the model's own sections (e.g. how well a
    network reads the codes off real images, a VAE's held-out ELBO). RUN_DIR is the folder of a
    run that saved a checkpoint (checkpoints/last.pt)."""
    if other is not None:
        from genfw.evaluation.compare import compare, format_rows, read_report, refuse_mismatched

        a, b = read_report(run_dir), read_report(other)
        refuse_mismatched(a, b, where=f"{run_dir} against {other}")
        click.echo(format_rows(compare(a, b), (str(run_dir), str(other))))
        return
    from genfw.evaluation import evaluate_run

    require_checkpoint(run_dir)
    evaluate_run(run_dir, samples=samples, seed=seed, plugins_dirs=plugins_dirs, trust_recorded=trust_recorded)

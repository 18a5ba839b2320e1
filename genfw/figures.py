"""The figures genfw draws for every model: sample grids and traversals, from fixed latents.

Both only need the latent spec and ``model.generate``, so a new model gets them for free. All
are drawn from generators of their own (seeded from the run's seed), never the training RNG, so
figures of different epochs compare like with like and drawing them changes nothing in training.
"""

from __future__ import annotations

import torch

from genfw.latent import LatentSpec
from genfw.plots import ImageGrid

#: Rows of a traversal when a one-dimensional code has no categorical code to give rows to.
STYLES = 5


def fixed_codes(latent: LatentSpec, n: int, seed: int) -> dict[str, torch.Tensor]:
    """``n`` draws of every code from a generator of their own."""
    return latent.sample(n, torch.Generator().manual_seed(seed))


def sample_grid_codes(latent: LatentSpec, columns: int, seed: int) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """Codes for a grid of ``columns`` fixed draws per row; the rows are the categories of the first
    categorical control code (labelled), or a single row when there is none."""
    base = fixed_codes(latent, columns, seed)
    cat = latent.first_categorical()
    if cat is None:
        return base, None
    rows = cat.dim
    codes = {name: v.repeat(rows, 1) for name, v in base.items()}
    codes[cat.name] = torch.eye(rows).repeat_interleave(columns, dim=0)
    labels = getattr(cat, "labels", None) or [str(i) for i in range(rows)]
    return codes, [f"{cat.name}={label}" for label in labels]


def sample_grid(
    model,
    latent: LatentSpec,
    seed: int,
    *,
    columns: int = 10,
    rows_without_categories: int = 8,
    device: torch.device | str = "cpu",
    title: str | None = None,
) -> ImageGrid:
    """Samples from fixed latents: a row per category of the first categorical code, else a
    ``rows_without_categories`` x ``columns`` grid of draws."""
    codes, row_labels = sample_grid_codes(latent, columns, seed)
    if row_labels is None:
        codes = fixed_codes(latent, columns * rows_without_categories, seed)
    images = model.generate({k: v.to(device) for k, v in codes.items()}).cpu()
    return ImageGrid(images, columns, title=title, row_labels=row_labels)


def traversal_codes(latent: LatentSpec, name: str, steps: int, seed: int):
    """Codes for the traversal figure of code ``name``, with its row and column labels, or None
    when the code has nothing to sweep.

    Rows are the code's traversal rows (its dimensions, or one row of categories). A code with
    a single row gets a row per category of the first categorical code instead (how the
    code acts on each category), or, without one, ``STYLES`` rows of different
    draws of the other codes. Every other control code stays at its ``center()``, noise at
    one fixed draw per row.
    """
    code = latent[name]
    trav = code.traversal(steps)
    if trav is None:
        return None
    values = trav.values  # [rows, columns, dim]
    rows, columns = values.shape[0], values.shape[1]
    row_labels = list(trav.row_labels)
    first = latent.first_categorical()
    # One row per category when a single-row sweep is of another code.
    cat = first if rows == 1 and first is not None and first.name != name else None
    per_row_categories = cat is not None
    if rows == 1:
        repeat = cat.dim if cat is not None else STYLES
        values = values.expand(repeat, columns, values.shape[2])
        row_labels = (
            [f"{cat.name}={label}" for label in getattr(cat, "labels", range(cat.dim))]
            if cat is not None
            else [f"{row_labels[0]} #{i + 1}" for i in range(repeat)]
        )
        rows = repeat
    base = fixed_codes(latent, rows, seed)  # one draw per row: a row is one "style"
    if per_row_categories or trav.values.shape[0] > 1:
        base = fixed_codes(latent, 1, seed)  # the same draw everywhere: only the swept code changes
        base = {k: v.expand(rows, v.shape[1]) for k, v in base.items()}
    codes = {}
    for c in latent:
        if c.name == name:
            codes[c.name] = values.reshape(rows * columns, c.dim)
        elif cat is not None and c.name == cat.name:
            codes[c.name] = torch.eye(cat.dim).repeat_interleave(columns, dim=0)
        elif c.role == "control":
            codes[c.name] = c.center().expand(rows * columns, c.dim).clone()
        else:
            codes[c.name] = base[c.name].repeat_interleave(columns, dim=0)
    return codes, columns, row_labels, list(trav.column_labels)


def traversal_grids(
    model, latent: LatentSpec, seed: int, *, steps: int = 9, device: torch.device | str = "cpu"
) -> dict[str, ImageGrid]:
    """A traversal figure per control code that has one, by code name."""
    out = {}
    for code in latent.controls:
        made = traversal_codes(latent, code.name, steps, seed)
        if made is None:
            continue
        codes, columns, row_labels, column_labels = made
        images = model.generate({k: v.to(device) for k, v in codes.items()}).cpu()
        out[code.name] = ImageGrid(
            images,
            columns,
            title=f"traversal of {code.name}",
            row_labels=row_labels,
            column_labels=column_labels,
            xlabel=f"{code.name} value",
        )
    return out

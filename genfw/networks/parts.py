"""The parts of a discriminator that a model calls separately.

Many models read one set of discriminator features twice (a real/fake head and a head that
predicts codes or classes, or a projection onto a class embedding), so the networks that serve
them (e.g. ``conv_discriminator``) expose ``trunk`` (images -> features),
``d_head`` (features -> one logit per image) and ``aux_head`` (features -> the outputs the model
asked for). :class:`DiscriminatorParts` finds them once, with one clear error when a network
lacks one, and gives them typed names.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from genfw.errors import ConfigValueError


@dataclass(frozen=True)
class DiscriminatorParts:
    trunk: nn.Module
    d_head: nn.Module
    #: None unless asked for (``aux=True``).
    aux_head: nn.Module | None

    @classmethod
    def of(cls, network: nn.Module, model: str, aux: bool = True, role: str = "discriminator") -> DiscriminatorParts:
        """``network``'s parts, or a :class:`~genfw.errors.ConfigValueError` at ``networks.<role>``
        naming the missing one; ``model`` names who needs them (e.g. "the conditional GAN"),
        ``aux`` whether the aux head is needed, ``role`` the network's role in the config."""
        wanted = ("trunk", "d_head", "aux_head") if aux else ("trunk", "d_head")
        for part in wanted:
            if not isinstance(getattr(network, part, None), nn.Module):
                raise ConfigValueError(
                    f"{model}'s {role} network must have a '{part}' submodule, which a "
                    f"{type(network).__name__} lacks: use a discriminator network there, with "
                    f"{' and '.join(wanted)} (e.g. conv_discriminator)",
                    path=f"networks.{role}",
                )
        aux_head = getattr(network, "aux_head", None) if aux else None
        return cls(getattr(network, "trunk"), getattr(network, "d_head"), aux_head)  # noqa: B009 (typed as Module)

    @property
    def aux(self) -> nn.Module:
        """The aux head, for a caller that asked for it (``aux=True``)."""
        assert self.aux_head is not None, "DiscriminatorParts.of(..., aux=False) has no aux head"
        return self.aux_head

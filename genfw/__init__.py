"""genfw: a plugin-based generative modeling framework.

The package is import-light on purpose: ``import genfw`` pulls in neither torch nor the plugins,
so ``genfw.runtime`` (numpy + onnxruntime only) can live in the same distribution.
"""

__version__ = "0.2.0"

from genfw.hookspecs import (  # noqa: E402  (light: pluggy and typing only)
    RegisterAugmentations,
    RegisterDatasets,
    RegisterLatentCodes,
    RegisterLoggers,
    RegisterLosses,
    RegisterModels,
    RegisterNetworks,
    hookimpl,
)

__all__ = ["__version__", "hookimpl", "RegisterAugmentations", "RegisterDatasets", "RegisterLatentCodes",
           "RegisterLoggers", "RegisterLosses", "RegisterModels", "RegisterNetworks"]

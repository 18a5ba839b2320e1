"""genfw's plugin system: hook specifications (``hookspecs``), typed registries (``registry``),
finding and loading plugins (``loading``) and genfw's own components registered as a plugin
(``builtins``).

Nothing is imported here, so importing one part does not load the others. Plugin authors import
from :mod:`genfw.api`.
"""

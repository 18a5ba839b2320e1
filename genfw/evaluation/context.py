"""Deprecated: ``EvalContext`` is in ``genfw.api`` (``genfw.contexts``)."""

from genfw.contexts import EvalContext
from genfw.deprecation import warn_moved

__all__ = ["EvalContext"]

warn_moved(__name__, "import EvalContext from genfw.api (from genfw.api import EvalContext)")

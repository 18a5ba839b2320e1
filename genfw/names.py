"""The one rule for names a user or a plugin chooses: component names, run names and latent code
names. They become config values, folder, file and ONNX input names, and parts of messages."""

from __future__ import annotations

import re

#: 1 to 64 characters; a letter or "_" first (a digit first would not be a valid ONNX input name).
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"
NAME = re.compile(NAME_PATTERN)
NAME_RULE = "1 to 64 letters, digits, '_' or '-', starting with a letter or '_'"

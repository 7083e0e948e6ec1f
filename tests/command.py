"""How tests run the command line: the installed package's entry module under this interpreter."""

from __future__ import annotations

import sys

# ``python -m`` rather than the console script: the script may not be on PATH in a bare venv.
DRIFTLINE = [sys.executable, "-m", "driftline.streams.cli"]

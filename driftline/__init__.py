"""driftline: streaming ML inference and drift monitoring on Kafka.

The project keeps its four layers in top-level folders (``streams/``, ``models/``, ``detectors/``,
``ext/``) and installs them as subpackages of this one, so a user's own ``models`` or ``streams``
package never meets ours: ``import driftline.models.card``. This folder links to them for a source
checkout; the wheel holds real copies. Importing ``driftline`` itself loads nothing else (the
model layer is used from notebooks that must not pull in asyncio or Kafka clients).
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("driftline")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]

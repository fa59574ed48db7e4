"""lab: rebuild a network incident on one Linux machine and replay it.

This module stays free of third-party imports: parts of the package (the emulated
TDengine, the probes) run inside minimal containers with only Python's standard library.
"""

from pathlib import Path

__version__ = "0.2.0"

# The folder that holds the `lab` package (the repository, or site-packages when installed).
SOURCE_ROOT = Path(__file__).resolve().parent.parent

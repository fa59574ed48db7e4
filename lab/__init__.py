"""lab: rebuild a network incident on one Linux machine and replay it.

This module stays free of third-party imports: parts of the package (the emulated
TDengine, the probes) run inside minimal containers with only Python's standard library.
"""

__version__ = "0.1.0"

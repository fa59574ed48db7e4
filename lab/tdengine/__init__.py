"""Emulated TDengine 2.0.20: a ``taosd`` dnode and the ``taos`` shell, standard library only.

Run ``python3 -m lab.tdengine.taosd -c DIR`` and ``python3 -m lab.tdengine.taos [...]`` (or the
launchers in ``bin/``).  The behaviour follows /work/shared/tdengine-2x-networking.md.
"""

VERSION = "2.0.20.0"

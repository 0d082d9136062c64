"""nox sessions made from the stage table, for any project: see :mod:`.sessions`.

Importing this package does not import nox; :mod:`build_support.nox.sessions` does.
"""

"""Every use of a library's private internals, one module per library.

Each module names the release it was tested with, says in one line per
function why the public API was not enough, and has ``missing()``: the
internals it needs that the installed release lacks.  tests/test_compat_canaries.py
fails on any, naming the installed version, so a library upgrade that moves
an internal breaks one test with a clear message, not the screen or the
consumer at run time.  pyproject pins each library below its next minor.
"""

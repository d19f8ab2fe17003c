"""support.no_internet's guard in every Python process a test starts.

The `no_internet` fixture (conftest) puts this folder first on PYTHONPATH, so Python
imports this module as the process starts, and names a file in NO_INTERNET_REFUSED:
each name the child refused to look up is appended to it, and the test fails on it at
teardown as it would on its own lookups. A child given an environment of its own, without
these variables, runs unguarded.
"""

import os
import sys

_RECORD = os.environ.get("NO_INTERNET_REFUSED")

if _RECORD:
    # tests/, for `support`: this folder is tests/support/child_guard.
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from support.no_internet import NoInternet

    def _record(name: str) -> None:
        with open(_RECORD, "a", encoding="utf-8") as refused:
            refused.write(name + "\n")

    NoInternet(record=_record).install()

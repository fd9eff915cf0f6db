"""Render the results table from `results.json` files; the code is `unipixel/cli/make_tables.py`, installed as the
console script `unipixel-tables`.

    python tools/make_tables.py --help
"""

import sys

from unipixel.cli.make_tables import *  # noqa: F403  (the tool's functions, for callers that load this file)
from unipixel.cli.make_tables import main

if __name__ == "__main__":
    sys.exit(main())

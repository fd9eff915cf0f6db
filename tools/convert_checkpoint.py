"""Checkpoint conversions (export, SAM 2.1 layouts, fingerprint); the code is `unipixel/cli/convert_checkpoint.py`,
installed as the console script `unipixel-convert`.

    python tools/convert_checkpoint.py --help
"""

import sys

from unipixel.cli.convert_checkpoint import *  # noqa: F403  (the tool's functions, for callers that load this file)
from unipixel.cli.convert_checkpoint import main

if __name__ == "__main__":
    sys.exit(main())

"""Ask UniPixel about an image, a video or a folder of frames; the code is `unipixel/cli/inference.py`, installed as
the console script `unipixel-infer`.

    python tools/inference.py --help
"""

import sys

from unipixel.cli.inference import *  # noqa: F403  (the tool's functions, for callers that load this file)
from unipixel.cli.inference import cli, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(cli())

"""python -m unipixel.model.released FOLDER: rebuild the packaged layout files from the layout tables in FOLDER."""

import sys

from . import write_layouts

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in write_layouts(sys.argv[1]):
        print(path)

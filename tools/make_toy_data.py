"""Write the procedural toy datasets (unipixel.data.toy) under a root laid out like the released data/ folder.

python tools/make_toy_data.py --out data/toy --seed 0            # default size (a few MB, seconds)
python tools/make_toy_data.py --out /tmp/toy --seed 0 --small    # test size (< 1 MB, about a second)
python tools/make_toy_data.py --out data/toy --families mevis,videorefer --num-train 80
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unipixel.data.toy import FAMILIES, SMALL, make_toy_data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/toy", help="output root (default: data/toy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help=f"test-sized preset {SMALL}")
    parser.add_argument("--num-train", type=int, default=None, help="train scale (default 32; 4 with --small)")
    parser.add_argument("--num-val", type=int, default=None, help="evaluation scale (default 8; 2 with --small)")
    parser.add_argument("--families", default=None, help=f"comma-separated subset of {','.join(FAMILIES)}")
    parser.add_argument(
        "--appearance-only",
        action="store_true",
        help="no look-alike objects; every expression identifiable by its appearance words (the toy run's data)",
    )
    args = parser.parse_args(argv)

    sizes = dict(SMALL) if args.small else {"num_train": 32, "num_val": 8}
    if args.num_train is not None:
        sizes["num_train"] = args.num_train
    if args.num_val is not None:
        sizes["num_val"] = args.num_val
    families = args.families.split(",") if args.families else None

    start = time.perf_counter()
    manifest = make_toy_data(args.out, seed=args.seed, families=families, relational=not args.appearance_only, **sizes)
    elapsed = time.perf_counter() - start

    for key, entry in manifest["datasets"].items():
        counts = "; ".join(
            f"{split}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for split, c in entry["counts"].items()
        )
        print(f"{key:28s} {counts}")
    print(
        f"wrote {manifest['bytes'] / 1e6:.2f} MB ({manifest['media_files']} media files) to {args.out} "
        f"in {elapsed:.1f} s (seed {args.seed}, generator {manifest['version']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

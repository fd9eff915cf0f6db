"""Render the results table (markdown and LaTeX) from the `results.json` files under an evaluation folder.

    python tools/make_tables.py model_zoo/UniPixel-3B/eval              # prints markdown, writes the two files
    python tools/make_tables.py outputs/eval --all --out-md table.md --out-tex table.tex

Our numbers stand beside the published UniPixel-3B / 7B ones (`unipixel/eval/paper_numbers.py`) with the differences
(ours minus published); percentages except VideoRefer-Bench-D (0-5 judge score), counts as counts; missing values are
"–". A partial run (`limit=N`, or scored with missing predictions) is marked "†", gets no difference and a note under
the table. `--all` adds every other metric found (per question type, per task, ...). Installed as `unipixel-tables`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unipixel.eval.tables import PARTIAL, collect_results, partial_runs, render_latex, render_markdown, table_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder searched recursively for results.json files")
    parser.add_argument("--out-md", type=Path, help="markdown output (default: <folder>/results_table.md)")
    parser.add_argument("--out-tex", type=Path, help="LaTeX output (default: <folder>/results_table.tex)")
    parser.add_argument("--all", action="store_true", help="also list metrics without a published number")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"no such folder: {args.folder}")
    results, sources = collect_results(args.folder)
    partial = partial_runs(args.folder)
    rows = table_rows(results, all_metrics=args.all, partial=partial)
    markdown, latex = render_markdown(rows), render_latex(rows)
    out_md = args.out_md or args.folder / "results_table.md"
    out_tex = args.out_tex or args.folder / "results_table.tex"
    out_md.write_text(markdown)
    out_tex.write_text(latex)
    print(markdown, end="")
    print(
        f"\n{len(set(sources.values()))} results files, {len(results)} metrics -> {out_md}, {out_tex}", file=sys.stderr
    )
    if partial:
        shown = ", ".join(f"{key} ({note})" for key, note in sorted(partial.items()))
        print(f"partial runs, marked {PARTIAL} and without differences: {shown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command-line tools installed as console scripts (pyproject `[project.scripts]`): `unipixel-infer`
(`inference`), `unipixel-convert` (`convert_checkpoint`), `unipixel-tables` (`make_tables`). The scripts under
`tools/` run the same modules."""

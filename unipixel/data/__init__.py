"""Data pipeline: samples from every dataset family, as `processor.Sample`s, and the batching around them.

Core
- `errors`      `DataError(dataset, sample_id, path, msg)`, the one error type; `data_errors(...)` wraps a block.
- `io`          `VideoReader` (decord → PyAV → OpenCV, frame folders / frame lists), images, label PNGs, JSON/JSONL.
- `masks`       decoders of every mask encoding (`image`, `image_sep`, `rle`, `polygon`, `vicas`, `sav`).
- `safe_pickle` restricted unpickler for `refs(*).p` / `mask_dict.pkl`.
- `sampling`    frame sampling (uniform / random / annotated / single-frame / fps) and point / box prompts.
- `templates`   prompt pools and evaluation wording (docs/design.md §4.5), memory prefix.
- `base`        `BaseDataset`: lazy index, `Sample` building, limits, broken-sample budget, strict evaluation mode.
- `mixture`     `build_dataset` / `build_mixture` from `configs/data/datasets/<key>.yaml`, `DataTypeGroupedSampler`.
- `processor`   `Sample`, `PixelProcessor` (model inputs, collate).

Loaders (one module per family): `refer` (refcoco, refcoco+, refcocog, refclef), `reason_seg`, `semantic` (ade20k,
cocostuff, mapillary; names in `classes`), `parts` (paco_lvis, pascal_part), `general` (LLaVA + VideoGPT+),
`rvos` (Ref-YouTube-VOS, Ref-DAVIS17, MeViS, ReVOS, LV-VIS, Ref-SAV), `groundmore`, `vicas`, `videorefer`
(captions, QA, Bench-D/Q), `inst_it`, `osprey`, `mvbench`, `videomme`, `region` (shared region/memory helpers, PixelQA).

Your own data: `custom` (one JSON-lines file, docs/finetune.md) and `check` (`python -m unipixel.data.check FILE`).
"""

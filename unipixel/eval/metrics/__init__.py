"""Evaluation metrics: pure functions of masks and answers (docs/design.md §5.2, §6).

Imports only numpy / scipy / OpenCV (torch tensors are accepted by duck typing), never the model or data packages,
so scoring stays CPU-only and re-runnable. Modules:
  region     per-frame J, volume IoU / pixel F1 (PixelQA)
  boundary   DAVIS boundary F, per-expression J&F and the dataset mean
  revos      ReVOS J/F/A/R with the binarised and the published (B17) conventions, subset aggregation
  image_seg  cIoU / gIoU accumulator, BBox accuracy
  choice     multiple-choice letter parsing (strict and the original lenient rule) and accuracy
  judge      VideoRefer-Bench-D judge-reply parsing and aggregation
"""

from .boundary import boundary_f_measure, boundary_map, frame_counts, j_and_f, mean_j_and_f
from .choice import choice_accuracy, parse_choice
from .image_seg import IoUAccumulator, bbox_hit, box_iou, intersection_union, mask_box
from .judge import DIMENSIONS as JUDGE_DIMENSIONS
from .judge import JudgeParseError, aggregate_judge_scores, parse_judge_scores
from .region import region_iou, volume_f1, volume_iou
from .revos import aggregate_revos, revos_metrics

__all__ = [
    "JUDGE_DIMENSIONS",
    "IoUAccumulator",
    "JudgeParseError",
    "aggregate_judge_scores",
    "aggregate_revos",
    "bbox_hit",
    "boundary_f_measure",
    "boundary_map",
    "box_iou",
    "choice_accuracy",
    "frame_counts",
    "intersection_union",
    "j_and_f",
    "mask_box",
    "mean_j_and_f",
    "parse_choice",
    "parse_judge_scores",
    "region_iou",
    "revos_metrics",
    "volume_f1",
    "volume_iou",
]

"""Mask loss of UniPixel (SAM 2's multi-step multi-mask loss with UniPixel's weights), vectorised over frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0):
    """Per-pixel sigmoid focal loss, averaged over the last two dims. `alpha < 0` disables class weighting."""
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean(dim=(-2, -1))


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`1 - (2 sum(p q) + 1) / (sum p + sum q + 1)` on sigmoid probabilities, over the last two dims."""
    prob = logits.sigmoid()
    num = 2 * (prob * targets).sum(dim=(-2, -1)) + 1
    den = prob.sum(dim=(-2, -1)) + targets.sum(dim=(-2, -1)) + 1
    return 1 - num / den


def mask_loss(
    multimask_logits: torch.Tensor,
    pred_ious: torch.Tensor,
    object_scores: torch.Tensor,
    gt_masks: torch.Tensor,
    focal_weight: float = 100.0,
    dice_weight: float = 5.0,
    iou_weight: float = 5.0,
    class_weight: float = 5.0,
) -> dict[str, torch.Tensor]:
    """UniPixel's mask loss for one sample.

    Args:
        multimask_logits: `(T, O, M, S, S)` candidate mask logits per frame.
        pred_ious: `(T, O, M)` predicted IoUs.
        object_scores: `(T, O, 1)` object-presence logits.
        gt_masks: `(T, O, S, S)` bool ground truth at SAM resolution.

    Per frame and object: focal (alpha 0.25, gamma 2, pixel mean) and dice of each candidate; the candidate with the
    smallest `focal_weight * focal + dice_weight * dice` is the one back-propagated; the IoU head is supervised with L1
    against the actual IoU of every binarised candidate (`supervise_all_iou`); focal/dice/IoU count only where the
    object is present on that frame; the object score gets plain BCE against presence. Terms are divided by the number
    of objects, summed over objects and frames, then divided by the number of frames.

    Returns:
        dict with `loss` and the weighted components `focal`, `dice`, `iou`, `class`.
    """
    num_frames, num_objects = gt_masks.shape[:2]
    target = gt_masks.to(multimask_logits.dtype).unsqueeze(2)  # (T, O, 1, S, S)
    logits = multimask_logits
    focal = sigmoid_focal_loss(logits, target.expand_as(logits))  # (T, O, M)
    dice = dice_loss(logits, target.expand_as(logits))
    pred_bin = logits > 0
    inter = (pred_bin & target.bool()).sum(dim=(-2, -1)).float()
    union = (pred_bin | target.bool()).sum(dim=(-2, -1)).float().clamp(min=1.0)
    iou_l1 = (pred_ious.float() - inter / union).abs().mean(dim=-1)  # (T, O)
    best = torch.argmin(focal_weight * focal + dice_weight * dice, dim=-1, keepdim=True)
    focal_best = focal.gather(-1, best).squeeze(-1)
    dice_best = dice.gather(-1, best).squeeze(-1)
    present = gt_masks.flatten(2).any(dim=-1).to(focal.dtype)  # (T, O)
    cls = F.binary_cross_entropy_with_logits(object_scores.squeeze(-1).float(), present, reduction="none")  # (T, O)
    scale = 1.0 / (max(num_objects, 1) * num_frames)
    parts = {
        "focal": focal_weight * (focal_best * present).sum() * scale,
        "dice": dice_weight * (dice_best * present).sum() * scale,
        "iou": iou_weight * (iou_l1 * present).sum() * scale,
        "class": class_weight * cls.sum() * scale,
    }
    parts["loss"] = parts["focal"] + parts["dice"] + parts["iou"] + parts["class"]
    return parts

"""Unit tests of each mechanism: SAM 2 prompt layout and batching, `<|ref|>` encoding, `<|mem|>` token order, loss."""

import pytest
import torch
import torch.nn.functional as F

from unipixel.model.losses import mask_loss
from unipixel.utils.masks import masks_to_token_grid


# ---------------------------------------------------------------- SAM 2
def test_hidden_tokens_follow_two_padding_rows(tiny_model, monkeypatch):
    sam = tiny_model.sam2.eval()
    seen = {}
    original = sam.sam_mask_decoder.forward

    def spy(*args, **kwargs):
        seen["sparse"] = kwargs["sparse_prompt_embeddings"]
        return original(*args, **kwargs)

    monkeypatch.setattr(sam.sam_mask_decoder, "forward", spy)
    features = sam.encode_frames(torch.randn(1, 3, 128, 128))
    hidden = torch.randn(2, 2, 256)
    sam.track(features, hidden)
    sparse = seen["sparse"]
    nap = sam.sam_prompt_encoder.not_a_point_embed.weight[0]
    assert sparse.shape == (2, 4, 256)
    assert torch.allclose(sparse[:, 0], nap.expand(2, -1)) and torch.allclose(sparse[:, 1], nap.expand(2, -1))
    assert torch.equal(sparse[:, 2:], hidden)


def test_batched_decoding_equals_per_object_and_encodes_each_frame_once(tiny_model, monkeypatch):
    sam = tiny_model.sam2.eval()
    frames, hidden = torch.randn(6, 3, 128, 128), torch.randn(3, 2, 256)
    calls = []
    original = sam.forward_image
    monkeypatch.setattr(sam, "forward_image", lambda x: calls.append(x.shape[0]) or original(x))
    batched = torch.cat([out.best_logits for _, out in sam.segment(frames, hidden, chunk_size=4)], dim=1)
    assert sum(calls) == 6, "each frame encoded once for all three objects"
    calls.clear()
    reference = sam.per_object_segment(frames, hidden, chunk_size=4)
    assert sum(calls) == 18, "the original way re-encodes every frame per object"
    torch.testing.assert_close(batched, reference, atol=1e-4, rtol=1e-4)


def test_segment_memory_stays_bounded(tiny_model, monkeypatch):
    """Long-video inference keeps at most 6 mask memories and 15 object pointers."""
    sam = tiny_model.sam2.eval()
    seen = {}
    original = sam._track_frame

    def spy(t, frame_feats, features, num_objects, num_frames, memory, *rest):
        seen["memory"] = memory
        return original(t, frame_feats, features, num_objects, num_frames, memory, *rest)

    monkeypatch.setattr(sam, "_track_frame", spy)
    last = -1
    for t, _ in sam.segment(torch.randn(24, 3, 128, 128), torch.randn(1, 2, 256), chunk_size=8):
        stored = seen["memory"]["non_cond_frame_outputs"]
        with_masks = [k for k, v in stored.items() if "maskmem_features" in v]
        assert len(with_masks) <= 6 and len(stored) <= 15
        last = t
    assert last == 23 and max(stored) == 23


def test_last_frame_memory_is_not_encoded(tiny_model, monkeypatch):
    """No frame reads the last frame's memory, so it is not encoded; the outputs are what encoding it would give."""
    sam = tiny_model.sam2.eval()
    frames, hidden = torch.randn(3, 3, 128, 128), torch.randn(2, 2, 256)
    features = sam.encode_frames(frames)
    encoded = []
    original = sam._encode_memory_in_output

    def spy(*args):
        encoded.append(args[-1])
        return original(*args)

    monkeypatch.setattr(sam, "_encode_memory_in_output", spy)
    with torch.no_grad():
        outs = sam.track(features, hidden)
    assert len(encoded) == 2 and all(e["maskmem_features"] is not None for e in encoded), "frames 0 and 1 only"
    encoded.clear()
    with torch.no_grad():
        sam.track(sam.encode_frames(frames[:1]), hidden)
    assert encoded == [], "a single image needs no memory"
    # reference: every frame encoded, the way SAM 2's own video loop does it
    monkeypatch.setattr(sam, "_encode_memory_in_output", original)
    track_frame = type(sam)._track_frame

    def encode_all(self, t, frame_feats, features, num_objects, num_frames, *rest):
        return track_frame(self, t, frame_feats, features, num_objects, num_frames + 1, *rest)

    monkeypatch.setattr(type(sam), "_track_frame", encode_all)
    with torch.no_grad():
        reference = sam.track(features, hidden, num_frames=3)
    for got, want in zip(outs, reference):
        torch.testing.assert_close(got.best_logits, want.best_logits, atol=1e-4, rtol=1e-4)


def test_gate_only_at_inference(tiny_model):
    sam = tiny_model.sam2
    feats = torch.randn(2, 256, 8, 8)
    high = [torch.randn(2, 32, 32, 32), torch.randn(2, 64, 16, 16)]
    hidden = torch.randn(2, 2, 256)
    with torch.no_grad():
        sam.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(-100.0)  # "absent" everywhere
        gated = sam._forward_sam_heads(feats, None, None, high, True, hidden_inputs=hidden, gate_no_obj=True)
        free = sam._forward_sam_heads(feats, None, None, high, True, hidden_inputs=hidden, gate_no_obj=False)
    assert (gated[0] == -1024).all() and not (free[0] == -1024).all()


# ---------------------------------------------------------------- <|ref|>
def test_ref_encoding_by_hand(tiny_model):
    m = tiny_model
    prompts = torch.tensor([[0, 40.0, 50.0, 0, 0, 2], [1, 10.0, 20.0, 90.0, 100.0, 5]])
    n_frames = torch.tensor([6, 6])
    got = m.encode_visual_prompts(prompts, n_frames)
    enc = m.ref_encoder
    # point: [pt + label-1 embedding, not-a-point], via SAM's own prompt encoder forward (pads itself)
    sparse_pt, _ = enc(points=(prompts[:1, None, 1:3], torch.ones(1, 1, dtype=torch.int32)), boxes=None, masks=None)
    sparse_box, _ = enc(points=(prompts[1:, 1:5].view(1, 2, 2), torch.tensor([[2, 3]])), boxes=None, masks=None)
    assert sparse_pt.shape == (1, 2, 256) and sparse_box.shape == (1, 3, 256)
    spatial = torch.cat([m.ref_proj_single(sparse_pt.flatten(1)), m.ref_proj_double(sparse_box.flatten(1))])
    t = torch.tensor([2 / 5, 5 / 5])
    gauss = m.tem_pe.positional_encoding_gaussian_matrix
    angle = 2 * torch.pi * ((2 * t[:, None] - 1) @ gauss)
    temporal = m.tem_proj(torch.cat([angle.sin(), angle.cos()], -1) + m.tem_emb.weight[0])
    expected = m.ref_proj(torch.cat([spatial, temporal], -1))
    torch.testing.assert_close(got, expected)


def test_ref_rejects_bad_prompts(tiny_model):
    with pytest.raises(ValueError, match="kind"):
        tiny_model.encode_visual_prompts(torch.tensor([[2.0, 1, 1, 1, 1, 0]]), torch.tensor([2]))
    with pytest.raises(ValueError, match="frame index out of range"):
        tiny_model.encode_visual_prompts(torch.tensor([[0.0, 1, 1, 0, 0, 4]]), torch.tensor([4]))


# ---------------------------------------------------------------- <|mem|>
def _vision_outputs(model, t=2, h=12, w=16):
    torch.manual_seed(1)
    grid = torch.tensor([[t, h, w]])
    pixels = torch.randn(t * h * w, 3 * 2 * 14 * 14)
    with torch.no_grad():
        out = model.model.get_video_features(pixels, grid)
    return out, grid


def test_raster_order_recovers_the_merger_input(tiny_model):
    """Raster-ordered features, through the merger MLP, equal transformers' (raster) pooler output."""
    tiny_model.config.mem_token_order = "raster"
    out, grid = _vision_outputs(tiny_model)
    feats = tiny_model._merger_inputs(out, grid)[0]
    assert feats.shape == (2, 6 * 8, 128)
    with torch.no_grad():
        torch.testing.assert_close(tiny_model.model.visual.merger.mlp(feats.reshape(-1, 128)), out.pooler_output[0])
    tiny_model.config.mem_token_order = "window"
    window = tiny_model._merger_inputs(out, grid)[0]
    assert not torch.allclose(window, feats), "8 tokens wide: window order differs from raster order (B1)"
    assert torch.allclose(window.sort(dim=1).values, feats.sort(dim=1).values), "same tokens, permuted"


def test_window_order_equals_raster_when_narrow(tiny_model):
    out, grid = _vision_outputs(tiny_model, t=1, h=8, w=8)  # 4 merged tokens wide: a single window column
    tiny_model.config.mem_token_order = "raster"
    raster = tiny_model._merger_inputs(out, grid)[0]
    tiny_model.config.mem_token_order = "window"
    assert torch.equal(tiny_model._merger_inputs(out, grid)[0], raster)


def test_pool_memory_is_masked_mean_object_major(tiny_model):
    feats = torch.randn(3, 4, 5)  # 3 groups, 2x2 tokens, 5 channels
    masks = torch.zeros(2, 3, 2, 2, dtype=torch.bool)
    masks[0, 0, 0, 0] = masks[0, 0, 1, 1] = True
    masks[0, 2, :, :] = True
    masks[1, 1, 0, 1] = True
    got = tiny_model.pool_memory(feats, masks)
    expected = torch.stack([(feats[0, 0] + feats[0, 3]) / 2, feats[2].mean(0), feats[1, 1]])
    torch.testing.assert_close(got, expected)


def test_token_grid_from_masks():
    masks = torch.zeros(1, 3, 56, 84, dtype=torch.bool)
    masks[0, 0, 0:10, 0:10] = True  # frame 0: top-left token
    masks[0, 2, 40:50, 60:70] = True  # frame 2 (odd count: repeated as frame 3): bottom-right token
    grid = masks_to_token_grid(masks, (2, 4, 6))
    assert grid.shape == (1, 2, 2, 3)
    assert grid[0, 0].nonzero().tolist() == [[0, 0]]
    assert grid[0, 1].nonzero().tolist() == [[1, 2]]


def test_token_grid_downsampling_is_antialiased():
    """D5: shrinking 3x, plain bilinear reads only pixels 1, 4, 7, ...; the released (antialiased) resize reads all."""
    masks = torch.zeros(1, 2, 84, 84, dtype=torch.bool)
    masks[0, 0, 0, 0] = True  # one corner pixel on frame 0 of the only temporal group; the grid is 1 x 1 tokens
    assert masks_to_token_grid(masks, (1, 2, 2)).tolist() == [[[[True]]]]
    plain = torch.nn.functional.interpolate(masks[:, :1].float(), size=(28, 28), mode="bilinear", align_corners=False)
    assert not plain.any()  # the non-antialiased resize loses the object entirely


def test_token_grid_matches_torchvision_resize():
    """The released code resizes with torchvision (bilinear, antialias on) before the 28-px max-pool."""
    from torchvision.transforms.functional import resize

    yy, xx = torch.meshgrid(torch.arange(480), torch.arange(854), indexing="ij")
    ellipse = ((yy - 240) / 150.0) ** 2 + ((xx - 400) / 260.0) ** 2 <= 1
    masks = ellipse[None, None].expand(1, 2, -1, -1)
    grid = (1, 24, 42)  # Qwen's grid of a 336 x 588 frame: a 1.43x shrink
    expected = resize(ellipse[None].float(), [24 * 14, 42 * 14])
    expected = torch.nn.functional.max_pool2d(expected[None], 28)[0, 0] > 0
    got = masks_to_token_grid(masks, grid)[0, 0]
    assert torch.equal(got, expected)
    plain = torch.nn.functional.interpolate(ellipse[None, None].float(), size=(24 * 14, 42 * 14), mode="bilinear")
    assert (torch.nn.functional.max_pool2d(plain, 28) > 0).sum() < got.sum()  # 96 vs 98 tokens


# ---------------------------------------------------------------- loss
def _reference_loss(logits, ious, scores, gt):
    """A straightforward per-frame, per-object loop of docs/design.md §2."""
    num_frames, num_objects = gt.shape[:2]
    total = 0.0
    for t in range(num_frames):
        for o in range(num_objects):
            target = gt[t, o].float()
            present = float(target.any())
            focal, dice, actual = [], [], []
            for m in range(logits.shape[2]):
                x = logits[t, o, m]
                p = x.sigmoid()
                ce = F.binary_cross_entropy_with_logits(x, target, reduction="none")
                p_t = p * target + (1 - p) * (1 - target)
                a_t = 0.25 * target + 0.75 * (1 - target)
                focal.append((a_t * ce * (1 - p_t) ** 2).mean())
                dice.append(1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1))
                b = x > 0
                actual.append((b & target.bool()).sum() / max((b | target.bool()).sum(), 1))
            best = min(range(len(focal)), key=lambda m: 100 * focal[m] + 5 * dice[m])
            iou = sum(abs(ious[t, o, m] - actual[m]) for m in range(len(focal))) / len(focal)
            cls = F.binary_cross_entropy_with_logits(scores[t, o, 0], torch.tensor(present))
            total += (
                100 * focal[best] * present + 5 * dice[best] * present + 5 * iou * present + 5 * cls
            ) / num_objects
    return total / num_frames


def test_mask_loss_matches_reference_loop():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 3, 16, 16) * 3
    ious, scores = torch.rand(3, 2, 3), torch.randn(3, 2, 1)
    gt = torch.zeros(3, 2, 16, 16, dtype=torch.bool)
    gt[:, 0, 4:10, 3:12] = True
    gt[1, 1, 0:5, 0:5] = True  # object 1 present on frame 1 only
    got = mask_loss(logits, ious, scores, gt)
    torch.testing.assert_close(got["loss"], _reference_loss(logits, ious, scores, gt), atol=1e-5, rtol=1e-5)
    assert set(got) == {"loss", "focal", "dice", "iou", "class"}

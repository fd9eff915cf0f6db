"""Writers of tiny on-disk fixtures in each dataset's release format (64 x 48 images), shared by the data tests and
`benchmarks/bench_data.py`. Every writer takes the data root and returns what a test needs to check the loader."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from unipixel.data.masks import encode_rle

H, W = 48, 64


def write_image(path: Path, seed: int = 0, height: int = H, width: int = W) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    return pixels


def write_png(path: Path, label: np.ndarray, palette: bool = False) -> None:
    """A grey id map, or a palette (`P`) PNG whose indices are the ids (DAVIS-2017 / Mapillary style)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(label.astype(np.uint8))
    if palette:
        img.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)])
    img.save(path)


def write_video(path: Path, num_frames: int = 20, fps: int = 10, height: int = H, width: int = W) -> np.ndarray:
    """An H.264 MP4 whose frame t is filled with grey level 10 t (so decoded frames can be identified)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.stack([np.full((height, width, 3), 10 * t % 256, np.uint8) for t in range(num_frames)])
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames


def box(x1, y1, x2, y2, height: int = H, width: int = W) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (list counts, column-major runs starting with background)."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


# ------------------------------------------------------------------------------------------------ refer
def write_refer(
    root: Path,
    dataset: str = "refcoco",
    split_by: str = "unc",
    image_dir: str = "lisa/refer_seg/images/mscoco/images/train2014",
) -> dict:
    """Two images; polygon, str-RLE, list-RLE annotations; refs in train / val / testA."""
    anno = root / "lisa/refer_seg" / dataset
    anno.mkdir(parents=True, exist_ok=True)
    names = {1: "COCO_train2014_000000000001.jpg", 2: "COCO_train2014_000000000002.jpg"}
    for image_id, name in names.items():
        write_image(root / image_dir / name, seed=image_id)
    masks = {10: box(4, 4, 20, 30), 11: box(30, 10, 60, 40), 12: box(0, 0, 64, 10), 13: box(10, 20, 40, 46)}
    segs = {
        10: [[4, 4, 20, 4, 20, 30, 4, 30]],  # polygon (a rectangle; pycocotools rasterises its edges inclusively)
        11: encode_rle(masks[11]),  # compressed, str counts
        12: uncompressed_rle(masks[12]),  # list counts
        13: [[10, 20, 40, 20, 40, 46, 10, 46]],
    }
    instances = {
        "images": [{"id": i, "file_name": n, "height": H, "width": W} for i, n in names.items()],
        "annotations": [
            {
                "id": a,
                "image_id": 1 if a in (10, 11) else 2,
                "segmentation": segs[a],
                "category_id": 1,
                "bbox": [float(v) for v in _xywh(masks[a])],
                "iscrowd": 0,
                "area": float(masks[a].sum()),
            }
            for a in segs
        ],
    }
    (anno / "instances.json").write_text(json.dumps(instances))

    def ref(ref_id, ann_id, image_id, split, sents):
        return {
            "ref_id": ref_id,
            "ann_id": ann_id,
            "image_id": image_id,
            "split": split,
            "category_id": 1,
            "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg",
            "sent_ids": [s[0] for s in sents],
            "sentences": [{"sent_id": i, "sent": s, "raw": s.upper(), "tokens": s.split()} for i, s in sents],
        }

    refs = [
        ref(0, 10, 1, "train", [(0, "The man on the left."), (1, "a tall man")]),
        ref(1, 11, 1, "train", [(2, "red car")]),
        ref(2, 12, 2, "train", [(3, "sky at the top")]),
        ref(3, 13, 2, "val", [(4, "the dog"), (5, "brown dog")]),
        ref(4, 13, 2, "testA", [(6, "dog lying down")]),
    ]
    (anno / f"refs({split_by}).p").write_bytes(pickle.dumps(refs, protocol=2))
    return {"masks": masks, "train_images": 2, "val_sentences": 2}


def _xywh(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


# ------------------------------------------------------------------------------------------------ ReasonSeg
def shape(label, points):
    return {
        "label": label,
        "labels": [label],
        "shape_type": "polygon",
        "image_name": "x.jpg",
        "points": points,
        "group_id": None,
        "group_ids": [None],
        "flags": {},
    }


def write_reason_seg(root: Path) -> dict:
    base = root / "lisa/reason_seg/ReasonSeg"
    target = [[5.5, 5.2], [40.3, 5.0], [40.0, 40.7], [5.0, 40.0]]
    ignore_inside = [[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0]]
    flag = [[50.0, 2.0], [60.0, 8.0]]
    docs = {
        "train/a": {
            "text": ["What would you sit on?", "Where can one rest?"],
            "is_sentence": True,
            "shapes": [shape("target", target), shape("ignore", ignore_inside), shape("flag", flag)],
        },
        "train/b": {"text": ["the lamp"], "is_sentence": False, "shapes": [shape("target", target)]},
        "val/c": {
            "text": ["Which object gives light?"],
            "is_sentence": True,
            "shapes": [shape("target", target), shape("ignore", ignore_inside), shape("flag", flag)],
        },
    }
    for i, (stem, doc) in enumerate(docs.items()):
        write_image(base / f"{stem}.jpg", seed=10 + i)
        (base / f"{stem}.json").write_text(json.dumps(doc, indent=2))
    explanatory = [
        {
            "query": "What would you sit on?",
            "outputs": "The chair, because it has a seat.",
            "image": "a.jpg",
            "json": "a.json",
        },
        {"query": "Missing?", "outputs": "Not here.", "image": "zz.jpg", "json": "zz.json"},
    ]
    (base / "explanatory").mkdir(parents=True, exist_ok=True)
    (base / "explanatory/train.json").write_text(json.dumps(explanatory, indent=2))
    return {"train_samples": 2 + 1 + 1, "val_samples": 1}


# ------------------------------------------------------------------------------------------------ semantic
SEMANTIC = {
    # key: (image dir, label dir, palette, {region: value}) — values chosen to include ignored ids
    "ade20k": ("lisa/ade20k/images/training", "lisa/ade20k/annotations/training", False, (0, 3, 13, 255)),
    "cocostuff": ("lisa/coco/train2017", "lisa/cocostuff/train2017", False, (255, 0, 95, 156)),
    "mapillary": ("lisa/mapillary/training/images", "lisa/mapillary/training/v2.0/labels", True, (123, 30, 61, 255)),
}


def write_semantic(root: Path, key: str, num_images: int = 2) -> dict:
    image_dir, label_dir, palette, values = SEMANTIC[key]
    for i in range(num_images):
        write_image(root / image_dir / f"img_{i:03d}.jpg", seed=20 + i)
        label = np.full((H, W), values[0], np.uint8)
        label[:, 16:32], label[:, 32:48], label[:, 48:] = values[1], values[2], values[3]
        write_png(root / label_dir / f"img_{i:03d}.png", label, palette=palette)
    return {"values": values}


# ------------------------------------------------------------------------------------------------ parts
PARTS = {
    "paco_lvis": ("lisa/vlpart/paco/annotations/paco_lvis_v1_train.json", "lisa/coco", "train2017/{:012d}.jpg"),
    "pascal_part": (
        "lisa/vlpart/pascal_part/train.json",
        "lisa/vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages",
        "2008_{:06d}.jpg",
    ),
}


def write_parts(root: Path, key: str) -> dict:
    annotation, image_dir, pattern = PARTS[key]
    images, anns = [], []
    for image_id in (1, 2):
        name = pattern.format(image_id)
        write_image(root / image_dir / name, seed=30 + image_id)
        images.append({"id": image_id, "file_name": name, "height": H, "width": W})
    anns += [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 30, 2, 30, 40, 2, 40]]},
        {"id": 2, "image_id": 1, "category_id": 2, "segmentation": [[2, 30, 8, 30, 8, 40, 2, 40]]},
        {"id": 3, "image_id": 1, "category_id": 2, "segmentation": [[20, 30, 26, 30, 26, 40, 20, 40]]},
        {"id": 4, "image_id": 1, "category_id": 3, "segmentation": encode_rle(box(40, 5, 60, 20))},
        {"id": 5, "image_id": 2, "category_id": 3, "segmentation": encode_rle(box(10, 10, 50, 30))},
    ]
    cats = [{"id": 1, "name": "dog"}, {"id": 2, "name": "dog:leg"}, {"id": 3, "name": "bow_(weapon):string"}]
    path = root / annotation
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return {"leg_area": 2 * 6 * 10}


# ------------------------------------------------------------------------------------------------ LLaVA
def write_llava(root: Path, extra_rows: list | None = None) -> list:
    write_image(root / "llava_instruct/coco/train2017/000000000042.jpg", seed=42)
    write_video(root / "videogpt_plus/clips/v1.mp4", num_frames=20, fps=10)
    rows = [
        {
            "id": "img-1",
            "image": "coco/train2017/000000000042.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat colour is the bus?"},
                {"from": "gpt", "value": "It is red."},
                {"from": "human", "value": "Is it moving?"},
                {"from": "gpt", "value": "Yes."},
            ],
        },
        {
            "id": "vid-1",
            "video": "clips/v1.mp4",
            "conversations": [
                {"from": "human", "value": "What happens in the video?\n<video>"},
                {"from": "gpt", "value": "The screen brightens."},
            ],
        },
        {
            "id": "txt-1",
            "conversations": [
                {"from": "human", "value": "Say hi."},
                {"from": "gpt", "value": "Hi."},
            ],
        },
    ] + list(extra_rows or [])
    path = root / "general/llava_v1_5_mix665k_with_videogpt_plus_576k.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1))
    return rows


def write_all(root: Path) -> None:
    """Every image-side dataset (+ LLaVA) under one root, for mixtures and the benchmark."""
    for key, split_by, image_dir in (
        ("refcoco", "unc", "lisa/refer_seg/images/mscoco/images/train2014"),
        ("refcoco+", "unc", "lisa/refer_seg/images/mscoco/images/train2014"),
        ("refcocog", "umd", "lisa/refer_seg/images/mscoco/images/train2014"),
        ("refclef", "unc", "lisa/refer_seg/images/saiapr_tc-12"),
    ):
        write_refer(root, key, split_by, image_dir)
    write_reason_seg(root)
    for key in SEMANTIC:
        write_semantic(root, key)
    for key in PARTS:
        write_parts(root, key)
    write_llava(root)

"""Writers of tiny on-disk fixtures for the video, region, referring, memory and benchmark loaders (64 x 48 frames),
each in its dataset's release format. Masks are boxes that move one column per frame, so a decoded mask tells which
frame (and object) it belongs to. Every writer returns what its test checks against."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from tests.data.fixtures import H, W, write_image, write_png, write_video
from unipixel.data.masks import encode_rle


def box_track(num_frames: int, x0: int, y0: int = 8, size: int = 12, visible=None) -> np.ndarray:
    """`(T, H, W)` bool: a `size` box at column `x0 + t` on frame t (empty where `visible[t]` is False)."""
    out = np.zeros((num_frames, H, W), dtype=bool)
    for t in range(num_frames):
        if visible is None or visible[t]:
            out[t, y0 : y0 + size, x0 + t : x0 + t + size] = True
    return out


def rle_track(track: np.ndarray, as_bytes: bool = False) -> list:
    """Per-frame RLE (None when empty), `counts` str (JSON) or bytes (pickles)."""
    out = []
    for m in track:
        if not m.any():
            out.append(None)
            continue
        rle = encode_rle(m)
        out.append({**rle, "counts": rle["counts"].encode("ascii")} if as_bytes else rle)
    return out


def write_frames(folder: Path, names: list[str], seed: int = 0, ext: str = ".jpg") -> None:
    for i, name in enumerate(names):
        write_image(folder / f"{name}{ext}", seed=seed * 100 + i)


def dump(path: Path, obj, indent: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent))
    return path


def names(num_frames: int, start: int = 0, step: int = 1) -> list[str]:
    return [f"{start + step * t:05d}" for t in range(num_frames)]


# ------------------------------------------------------------------------------------------------ meta_expressions
def write_meta_expressions(root: Path, key: str) -> dict:
    """MeViS / ReVOS / LV-VIS / Ref-SAV-eval layouts (meta_expressions + mask_dict keyed by anno_id)."""
    tracks = {
        0: box_track(10, 2),
        1: box_track(10, 30, y0=28),
        2: box_track(10, 40, visible=[t >= 5 for t in range(10)]),  # enters at frame 5
        3: box_track(6, 10),
    }
    layouts = {
        "mevis": ("mevis/{split}/meta_expressions.json", "mevis/{split}/mask_dict.json", "mevis/{split}/JPEGImages"),
        "revos": ("revos/meta_expressions_{split}_.json", "revos/mask_dict.json", "revos"),
        "lvvis": ("lvvis/meta_expressions.json", "lvvis/mask_dict.json", "lvvis/{split}/JPEGImages"),
        "ref_sav_eval": (
            "ref_sav/valid/meta_expressions_valid.json",
            "ref_sav/valid/mask_dict.json",
            "ref_sav/valid/videos",
        ),
    }
    meta_tpl, mask_tpl, frame_tpl = layouts[key]
    splits = {"mevis": ["train", "valid_u", "valid"], "revos": ["train", "valid"], "lvvis": ["train"]}.get(
        key, ["valid"]
    )
    frame_names = [str(100000 + 4 * t) for t in range(10)] if key == "ref_sav_eval" else names(10)
    mask_dict = {str(a): rle_track(t) for a, t in tracks.items()}
    expected = {}
    for split in splits:
        v1 = "TAO/all/v1" if key == "revos" and split == "train" else "v1"
        exps = {
            "0": {"exp": "The dog on the left.", "obj_id": [0], "anno_id": [0]},
            "1": {"exp": "two animals", "obj_id": [0, 1], "anno_id": [0, 1]},
            "2": {"exp": "what enters the scene?", "obj_id": [2], "anno_id": [2]},
            "3": {"exp": "nothing here", "obj_id": [], "anno_id": []},
        }
        if key == "revos":
            for e in exps.values():
                e["type_id"] = int(e["exp"].endswith("?"))
        if key == "lvvis":
            exps = {"0": {"exp": "traffic_light", "obj_id": [0], "anno_id": [0]}}
        if key == "ref_sav_eval":
            exps = {"0": {"exp": "A small box sliding right. It is red.", "obj_id": [0], "anno_id": [0]}}
        videos = {
            v1: {"frames": frame_names, "expressions": exps, "vid_id": 0, "height": H, "width": W},
            "v2": {"frames": names(6), "expressions": {"0": {"exp": "a cat", "obj_id": [3], "anno_id": [3]}}},
        }
        frame_dir = root / frame_tpl.format(split=split)
        write_frames(frame_dir / v1, frame_names, seed=1)
        write_frames(frame_dir / "v2", names(6), seed=2)
        dump(root / meta_tpl.format(split=split), {"videos": videos})
        if not (key == "mevis" and split == "valid"):
            dump(root / mask_tpl.format(split=split), mask_dict)
        expected[split] = {"videos": videos, "v1": v1}
    if key == "revos":  # a TAO video annotated on frames 3..6 only: crop to them in training
        tao = box_track(12, 5, visible=[3 <= t <= 6 for t in range(12)])
        mask_dict["9"] = rle_track(tao)
        dump(root / mask_tpl, mask_dict)
        meta = json.loads((root / meta_tpl.format(split="train")).read_text())
        meta["videos"]["TAO/all/v3"] = {
            "frames": names(12),
            "expressions": {"0": {"exp": "a box", "obj_id": [9], "anno_id": [9], "type_id": 0}},
        }
        dump(root / meta_tpl.format(split="train"), meta)
        write_frames(root / "revos/TAO/all/v3", names(12), seed=3)
        fg = {"v1": {"masks_rle": [encode_rle(tracks[0][t] | tracks[1][t] | tracks[2][t]) for t in range(10)]},
              "v2": [encode_rle(tracks[3][t]) for t in range(6)]}  # fmt: skip
        dump(root / "revos/mask_dict_foreground.json", fg)
    return {"tracks": tracks, "splits": expected, "frame_names": frame_names}


# ------------------------------------------------------------------------------------------------ running index
def write_ref_youtube_vos(root: Path) -> dict:
    """Train meta with string obj_id and frames starting at 00110 (step 5), valid meta with {exp} only, mask_dict.pkl
    (protocol 2, bytes counts) keyed by the running expression index in JSON order."""
    frames = names(8, start=110, step=5)
    tracks = {1: box_track(8, 4), 2: box_track(8, 30, y0=26)}
    train = {"videos": {"b_vid": {"expressions": {"0": {"exp": "a red box", "obj_id": "2"},
                                                  "1": {"exp": "the box on the left", "obj_id": "1"}},
                                  "frames": frames},
                        "a_vid": {"expressions": {"0": {"exp": "a small box", "obj_id": "1"}},
                                  "frames": frames}}}  # fmt: skip
    valid = {"videos": {"c_vid": {"expressions": {"0": {"exp": "a thing"}, "1": {"exp": "another thing"}},
                                  "frames": frames}}}  # fmt: skip
    dump(root / "ref_youtube_vos/meta_expressions/train/meta_expressions.json", train, indent=4)
    dump(root / "ref_youtube_vos/meta_expressions/valid/meta_expressions.json", valid, indent=4)
    order = [2, 1, 1]  # JSON order: b_vid/0, b_vid/1, a_vid/0
    pkl = {str(i): rle_track(tracks[o], as_bytes=True) for i, o in enumerate(order)}
    (root / "ref_youtube_vos/mask_dict.pkl").write_bytes(pickle.dumps(pkl, protocol=2))
    for split, vids in (("train", ["a_vid", "b_vid"]), ("valid", ["c_vid"])):
        for k, vid in enumerate(vids):
            write_frames(root / f"ref_youtube_vos/{split}/JPEGImages/{vid}", frames, seed=10 + k)
    return {"tracks": tracks, "frames": frames}


def write_ref_davis17(root: Path) -> dict:
    """One valid video with 12 expressions ("10", "11" sort before "2" as strings) over 4 objects, a second video,
    mask_dict.pkl in JSON order, DAVIS palette PNG annotations."""
    base = root / "ref_davis17"
    out = {}
    for split, vids in (("train", {"bike": 2}), ("valid", {"dogs": 4, "cows": 1})):
        meta, running, pkl = {"videos": {}}, 0, {}
        for vid, num_objects in vids.items():
            frames = names(6)
            tracks = {o + 1: box_track(6, 2 + 12 * o, y0=4 + 8 * o, size=8) for o in range(num_objects)}
            n_exp = 12 if num_objects == 4 else 2 * num_objects
            exps = {str(k): {"exp": f"object number {k % num_objects + 1}", "obj_id": str(k % num_objects + 1)}
                    for k in range(n_exp)}  # fmt: skip
            for k in range(n_exp):
                pkl[str(running)] = rle_track(tracks[k % num_objects + 1], as_bytes=True)
                running += 1
            meta["videos"][vid] = {"expressions": exps, "frames": frames}
            write_frames(base / "DAVIS/JPEGImages/480p" / vid, frames, seed=20)
            for t, name in enumerate(frames):
                label = np.zeros((H, W), np.uint8)
                for o, tr in tracks.items():
                    label[tr[t]] = o
                write_png(base / "DAVIS/Annotations/480p" / vid / f"{name}.png", label, palette=True)
            out[(split, vid)] = tracks
        dump(base / f"meta_expressions/{split}/meta_expressions.json", meta)
        (base / split).mkdir(parents=True, exist_ok=True)
        (base / split / "mask_dict.pkl").write_bytes(pickle.dumps(pkl, protocol=2))
    return out


# ------------------------------------------------------------------------------------------------ Ref-SAV
def write_ref_sav(root: Path, annotated: int = 6) -> dict:
    """SA-V manual annotation (masklet every 4th frame, zero-area RLEs when absent, float metadata) + a 24 fps MP4 whose
    frame 4i has grey level 10i, and the Ref-SAV index."""
    num_video = 4 * (annotated - 1) + 1
    write_video(root / "sav/sav_train/sav_000/sav_000007.mp4", num_frames=num_video, fps=24)
    tracks = [box_track(annotated, 2), box_track(annotated, 30, visible=[t < 3 for t in range(annotated)])]
    masklet = [[encode_rle(tr[t]) for tr in tracks] for t in range(annotated)]  # absent = zero-area RLE
    anno = {
        "video_id": "sav_000007",
        "video_frame_count": float(num_video),
        "video_height": float(H),
        "video_width": float(W),
        "masklet": masklet,
        "masklet_id": [0, 1],
        "masklet_num": 2,
    }
    dump(root / "sav/sav_train/sav_000/sav_000007_manual.json", anno)
    meta = {
        "sav_000007": {
            "video_path": "sav/sav_train/sav_000/sav_000007.mp4",
            "anno_path": "sav/sav_train/sav_000/sav_000007_manual.json",
            "objects": {
                "0": {"video_id": "sav_000007", "obj_id": 0, "formated": "A box that slides to the right."},
                "1": {"video_id": "sav_000007", "obj_id": 1, "formated": "A box that vanishes halfway."},
            },
        }
    }
    dump(root / "ref_sav/Ref-SAV-Min-Ratio-0.3.json", meta)
    return {"tracks": tracks, "num_video_frames": num_video}


# ------------------------------------------------------------------------------------------------ GroundMoRe
def write_groundmore(root: Path) -> dict:
    """A 30-frame clip "clip_0120_0125" (01:20-01:25 at 6 fps) with masks on even frames; objects 1 and 2; the question
    asks about 01:21-01:23, i.e. clip frames 6..17."""
    vid = "clip_0120_0125"
    folder = root / "groundmore/annotations" / vid
    tracks = {1: box_track(30, 0, size=8), 2: box_track(30, 20, y0=30, size=8)}
    for t in range(30):
        write_image(folder / "images" / f"{t:07d}.jpg", seed=t)
        if t % 2 == 0:
            label = np.zeros((H, W), np.uint8)
            for o, tr in tracks.items():
                label[tr[t]] = o
            write_png(folder / "masks" / f"{t:07d}.png", label, palette=True)
    q = {"question": "Who is moving right", "answer": "The two boxes", "q_type": "Causal", "obj_id": "1, 2",
         "action_start": "01:21", "action_end": "01:23"}  # fmt: skip
    bad = {"question": "Which one?", "answer": "That", "q_type": "Descriptive", "obj_id": "one",
           "action_start": "01:20", "action_end": "01:22"}  # fmt: skip
    doc = {"videos": {vid: {"questions": {"0": q, "1": bad}}, "missing_0000_0001": {"questions": {"0": q}}}}
    dump(root / "groundmore/trainval_v2.json", doc)
    dump(root / "groundmore/test_v2.json", doc)
    return {"vid": vid, "tracks": tracks}


# ------------------------------------------------------------------------------------------------ ViCaS
def _vicas_anno(vid: str, tracks: dict, with_rles: bool) -> dict:
    segs = []
    for t in range(8):
        seg = {"filename": f"{t:05d}.jpg", "is_gt": t % 2 == 0, "track_ids": list(tracks)}
        if with_rles:
            seg["mask_rles"] = [encode_rle(tr[t]) for tr in tracks.values()]
        segs.append(seg)
    return {
        "video_id": int(vid),
        "src_dataset": "toy",
        "filename": f"{vid}.mp4",
        "image_size": [H, W],
        "caption_parsed_en_gpt": "Two boxes slide.",
        "object_referrals": [
            {"prompt": "The box sliding along the top.", "track_ids": [1]},
            {"prompt": "Both boxes.", "track_ids": [1, 2]},
        ],
        "segmentations": segs,
        "all_track_ids": list(tracks),
    }


def write_vicas(root: Path, merged: bool = True) -> dict:
    """Split lists of ints, the merged annotations (without masks) + per-referral mask files, or the official
    per-video files with `mask_rles`."""
    tracks = {1: box_track(8, 2), 2: box_track(8, 30, y0=30)}
    dump(root / "vicas/splits/v1.0/train.json", [7])
    dump(root / "vicas/splits/v1.0/val.json", [12])
    annos = {}
    for vid in ("000007", "000012"):
        write_frames(root / "vicas/video_frames" / vid, names(8), seed=int(vid))
        annos[vid] = _vicas_anno(vid, tracks, with_rles=not merged)
        if not merged:
            dump(root / f"vicas/annotations/v1.0/{vid}.json", annos[vid])
            continue
        for i, ref in enumerate(annos[vid]["object_referrals"]):
            per_frame = [[encode_rle(tracks[k][t]) for k in ref["track_ids"]] for t in range(8)]
            dump(root / f"vicas/masks/{vid}/{i}.json", per_frame)
    if merged:
        dump(root / "vicas/annotations/annotations_wo_masks_v1.0.json", annos)
    return {"tracks": tracks}


# ------------------------------------------------------------------------------------------------ VideoRefer-700K
def write_videorefer(root: Path) -> dict:
    """Short-caption / detailed-caption / QA rows (+ masks files, MP4s); filtered rows: ratio 0.2, six objects."""
    base = root / "videorefer/VideoRefer-700K"
    write_video(base / "videos/toy/clip.mp4", num_frames=20, fps=10)
    tracks = {0: box_track(20, 2), 1: box_track(20, 25, y0=28), 2: box_track(20, 40)}

    def ann(frames):
        return {str(f): {} for f in frames}

    def masks(objs, frames_per_obj):
        union = sorted({f for fr in frames_per_obj for f in fr})
        return [
            [[encode_rle(tracks[o][f])] if f in fr else [None] for f in union] for o, fr in zip(objs, frames_per_obj)
        ]

    def row(rid, question, answer, objs, frames_per_obj, ratio=1.0):
        return ({"video": "toy/clip.mp4",
                 "conversations": [{"from": "human", "value": f"<video>\n{question}"},
                                   {"from": "gpt", "value": answer}],
                 "annotation": [ann(f) for f in frames_per_obj], "id": rid, "ratio": ratio},
                masks(objs, frames_per_obj))  # fmt: skip

    files = {
        "short_caption": [
            row("sc0", "What is <region>?", "A red box.", [0], [[7]]),
            row("sc1", "Briefly describe <region>.", "A blue box.", [1], [[15]]),
            row("sc_low", "What is <region>?", "Hidden.", [1], [[3]], ratio=0.2),
        ],
        "detailed_caption": [
            row("dc0", "Describe <region> in detail.", "A red box sliding right.", [0], [list(range(0, 20, 2))]),
            row("dc1", "Describe <region> in detail.", "A box seen once.", [2], [[11]]),
        ],
        "qa": [
            row("qa0", "What colour is <region>?", "It is red.", [0], [list(range(2, 18))]),
            row(
                "qa1",
                "There are 2 objects in the video: <object2><region> and <object0><region>.\n"
                "Do <object2> and <object0> move the same way?",
                "Yes, <object2> and <object0> both move right.",
                [2, 0],
                [list(range(0, 20, 3)), list(range(1, 20, 2))],
            ),  # fmt: skip
            row("qa_one", "What is <region> doing?", "Sliding.", [1], [[9]]),
            row("qa_many", " ".join(["<region>"] * 6), "Six.", [0] * 6, [[1]] * 6),
        ],
    }
    stems = {"short_caption": "short-caption-500k", "detailed_caption": "detailed-caption-125k", "qa": "qa-75k"}
    for kind, rows in files.items():
        dump(base / f"videorefer-{stems[kind]}-wo-masks.json", [r for r, _ in rows])
        for i, (_, m) in enumerate(rows):
            dump(base / f"masks_{kind}/{i}.json", m)
    return {"tracks": tracks}


# ------------------------------------------------------------------------------------------------ VideoRefer-Bench
def write_videorefer_bench(root: Path) -> dict:
    """Bench-Q on a 24-frame folder (objects annotated on 20 frames each; frame_idx a str), Bench-D on an MP4."""
    base = root / "videorefer/VideoRefer-Bench"
    tracks = {0: box_track(24, 2), 1: box_track(24, 30, y0=28)}
    write_frames(base / "videos/DAVIS/JPEGImages/480p/boxes", names(24), seed=5)
    write_video(base / "videos/Panda-70M-part/toy/clip.mp4", num_frames=24, fps=10)

    def ann(o, frames):
        return {str(f): {"segmentation": encode_rle(tracks[o][f])} for f in frames}

    q = [
        {"id": 0, "video": "DAVIS/JPEGImages/480p/boxes", "Question": "What is <object0><region> doing?",
         "type": "Basic Questions", "options": ["(A) Sliding", "(B) Jumping", "(C) Sleeping", "(D) Eating"],
         "Answer": "(A) Sliding", "frame_idx": "9", "annotation": [ann(0, range(2, 22))]},
        {"id": 1, "video": "DAVIS/JPEGImages/480p/boxes",
         "Question": "How do <object1><region> and <object0><region> move relative to each other?",
         "type": "Relationship Questions", "options": ["(A) Apart", "(B) Together"], "Answer": "(B) Together",
         "frame_idx": "13", "annotation": [ann(1, [*range(0, 24, 2), 13]), ann(0, range(1, 24, 2))]},
    ]  # fmt: skip
    d = [{"id": 0, "video": "toy/clip.mp4", "caption": "A box slides to the right.", "frame_idx": "5",
          "annotation": [ann(0, range(0, 20))]}]  # fmt: skip
    dump(base / "VideoRefer-Bench-Q.json", q)
    dump(base / "VideoRefer-Bench-D.json", d)
    return {"tracks": tracks}


# ------------------------------------------------------------------------------------------------ Inst-IT
def write_inst_it(root: Path) -> dict:
    """A 4-frame video (frames "1.jpg".."4.jpg") with objects [1] (all frames) and [2] (frames 3, 4); an image with two
    captioned objects, one without a mask entry."""
    base = root / "inst_it/Inst-IT-Dataset"
    tracks = {"1": box_track(4, 2), "2": box_track(4, 30, visible=[False, False, True, True])}
    frames = [f"{t + 1}.jpg" for t in range(4)]
    for t, name in enumerate(frames):
        write_image(base / "videos_raw/clips/v1" / name, seed=t)
    segs = {name: {oid: {"mask": encode_rle(tr[t])} for oid, tr in tracks.items() if tr[t].any()}
            for t, name in enumerate(frames)}  # fmt: skip
    video = [{
        "video_id": "v1",
        "video_path": "Inst-IT-Dataset/clips/v1",
        "question_answer_pairs": [
            {"question": "What does [01] do between <0> and <2>?", "answer": "[1] slides right."},
            {"question": "Which appears later, [1] or [2]?", "answer": "[2] appears at <3>."},
            {"question": "What is the weather?", "answer": "Sunny."},
        ],
        "segmentations": segs,
    }]  # fmt: skip
    dump(base / "inst_it_dataset_video_21k_w_mask.json", video)
    write_image(base / "images_raw/imgs/i1.jpg", seed=9)
    image = [{
        "image_id": "i1",
        "image_path": "Inst-IT-Dataset/imgs/i1.jpg",
        "instance_level_caption": {"1": {"short": "A red box.", "long": "A red box on grass."}, "3": "A ghost."},
        "segmentations": {"1": {"mask": encode_rle(tracks["1"][0])}},
    }]  # fmt: skip
    dump(base / "inst_it_dataset_image_51k_w_mask.json", image)
    return {"tracks": tracks}


# ------------------------------------------------------------------------------------------------ Osprey
def write_osprey(root: Path) -> dict:
    """Conversation, positive/negative and detail-description rows (polygon and RLE regions, spelling slips, rows that
    must be dropped)."""
    base = root / "osprey"
    write_image(base / "coco/train2014/COCO_train2014_000000000001.jpg", seed=1)
    write_image(base / "coco/imgs/000000000002.jpg", seed=2)
    poly = [[4.0, 4.0, 20.0, 4.0, 20.0, 30.0, 4.0, 30.0]]
    rle = encode_rle(box_track(1, 40, y0=20)[0])
    anns = [{"segmentation": poly, "bbox": [4, 4, 16, 26]}, {"segmentation": rle, "bbox": [40, 20, 12, 12]}]
    common = {"file_name": "COCO_train2014_000000000001.jpg", "height": H, "width": W, "annotation": anns}
    conv = [
        {**common, "id": 1, "conversations": [
            {"from": "human", "value": "<image>\nWhat is <region2>?"}, {"from": "gpt", "value": "A box."},
            {"from": "human", "value": "Is <region 1> left of <region2]?"}, {"from": "gpt", "value": "Yes."}]},
        {**common, "id": 2, "conversations": [{"from": "human", "value": "What is <region>?"},
                                              {"from": "gpt", "value": "?"}]},
        {**common, "id": 3, "conversations": [{"from": "human", "value": "What is <region5>?"},
                                              {"from": "gpt", "value": "?"}]},
    ]  # fmt: skip
    posneg = [{**common, "file_name": "lvis_000000000002.jpg", "id": 4, "conversations": [
        {"from": "human", "value": "Is <region1> a cat?"}, {"from": "gpt", "value": "No."}]}]  # fmt: skip
    detail = [
        {**common, "id": 5, "description": ["<region1>: A tall box.", "<Region2>: A small box."]},
        {**common, "id": 6, "description": ["<region1> <region2>: Two boxes."]},
    ]
    dump(base / "Osprey-724K/osprey_conversation.json", conv)
    dump(base / "Osprey-724K/osprey_lvis_positive_negative.json", posneg)
    dump(base / "Osprey-724K/osprey_detail_description.json", detail)
    return {"poly_box": (4, 4, 20, 30), "rle_box": (40, 20, 52, 32)}


# ------------------------------------------------------------------------------------------------ MVBench
def write_mvbench(root: Path) -> dict:
    """Episodic Reasoning (a 40-frame folder) and Action Antonym (a 5 s video at 10 fps)."""
    base = root / "mvbench"
    folder = base / "video/tvqa/frames_fps3_hq/ep1"
    for t in range(40):
        write_image(folder / f"{t + 1:05d}.jpg", seed=t, height=16, width=16)
    write_video(base / "video/ssv2_video/1.mp4", num_frames=50, fps=10)
    dump(base / "json/episodic_reasoning.json",
         [{"video": "ep1", "question": "Who speaks first?", "candidates": ["Ross", "Joey"],
           "answer": "Joey"}])  # fmt: skip
    dump(base / "json/action_antonym.json", [
        {"video": "1.mp4", "question": "What happens?", "candidates": ["Opening", "Closing", "Not sure"],
         "answer": "Closing"},
        {"video": "1.mp4", "question": "Bad row", "candidates": ["A", "B"], "answer": "C"},
    ])  # fmt: skip
    return {}


# ------------------------------------------------------------------------------------------------ Video-MME
VIDEOMME_ROWS = [
    # the column order and types of lmms-lab/Video-MME's test-00000-of-00001.parquet
    ("001", "short", "Knowledge", "Humanity & History", "https://www.youtube.com/watch?v=aaaaaaaaaaa", "aaaaaaaaaaa",
     "001-1", "Counting Problem", "How many   boxes\nappear?", ["A. one.", "B. two.", "C. three.", "D. four."], "B"),
    ("001", "short", "Knowledge", "Humanity & History", "https://www.youtube.com/watch?v=aaaaaaaaaaa", "aaaaaaaaaaa",
     "001-2", "Object Recognition", "What moves?", ["A. a box.", "B. a ball.", "C. a cat.", "D. nothing."], "A"),
    ("301", "medium", "Sports Competition", "Basketball", "https://www.youtube.com/watch?v=bbbbbbbbbbb", "bbbbbbbbbbb",
     "301-1", "Action Reasoning", "Who wins?", ["A. red.", "B. blue.", "C. nobody.", "D. both."], "C"),
    ("301", "medium", "Sports Competition", "Basketball", "https://www.youtube.com/watch?v=bbbbbbbbbbb", "bbbbbbbbbbb",
     "301-2", "Temporal Reasoning", "What comes first?", ["A. a jump.", "B. a pass.", "C. a shot.", "D. a foul."], "D"),
    ("601", "long", "Film & Television", "Movie", "https://www.youtube.com/watch?v=ccccccccccc", "ccccccccccc",
     "601-1", "Information Synopsis", "What is it about?", ["A. war.", "B. love.", "C. sport.", "D. food."], "B"),
]  # fmt: skip
VIDEOMME_COLUMNS = ("video_id", "duration", "domain", "sub_category", "url", "videoID", "question_id", "task_type",
                    "question", "options", "answer")  # fmt: skip


def write_videomme(root: Path, rows=VIDEOMME_ROWS) -> Path:
    """The Video-MME parquet (pyarrow, string columns and a list<string> `options`) and one MP4 per videoID."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = root / "videomme"
    base.mkdir(parents=True, exist_ok=True)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(VIDEOMME_COLUMNS)}
    types = {name: pa.list_(pa.string()) if name == "options" else pa.string() for name in VIDEOMME_COLUMNS}
    table = pa.table({name: pa.array(values, type=types[name]) for name, values in columns.items()})
    path = base / "test-00000-of-00001.parquet"
    pq.write_table(table, path)
    for num_frames, vid in ((20, "aaaaaaaaaaa"), (60, "bbbbbbbbbbb"), (100, "ccccccccccc")):
        write_video(base / "videos" / f"{vid}.mp4", num_frames=num_frames, fps=10)
    return path

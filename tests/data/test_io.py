"""Video / frame / JSON I/O: every backend, fallbacks, decoding only requested frames, errors naming the file."""

import builtins
import json

import numpy as np
import pytest

from tests.data import fixtures as fx
from unipixel.data import io
from unipixel.data.errors import DataError
from unipixel.data.io import VideoReader, list_frame_files, load_json


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    fx.write_video(path, num_frames=20, fps=10)
    return path


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv", "auto"])
def test_backends_agree(video, backend):
    reader = VideoReader(video, backend=backend, dataset="unit", sample_id="v")
    assert reader.num_frames == 20 and reader.fps == pytest.approx(10.0) and reader.duration == pytest.approx(2.0)
    frames = reader.get([19, 0, 7, 7])
    assert frames.shape == (4, fx.H, fx.W, 3) and frames.dtype == np.uint8
    assert np.allclose(frames[:, 10, 10, 1], [190, 0, 70, 70], atol=4)


def test_pyav_and_opencv_decode_only_requested(video, monkeypatch):
    converted = []
    import av

    original = av.VideoFrame.to_ndarray

    def spy(self, *args, **kwargs):
        converted.append(self.pts)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "to_ndarray", spy)
    VideoReader(video, backend="pyav").get([2, 5])
    assert len(converted) == 2  # frames 0..5 demuxed and decoded, only two converted; nothing after frame 5


def test_fallback_when_decord_is_missing(video, monkeypatch):
    real_import = builtins.__import__

    def no_decord(name, *args, **kwargs):
        if name == "decord":
            raise ImportError("no decord here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_decord)
    reader = VideoReader(video)
    assert reader.get([3]).shape == (1, fx.H, fx.W, 3)
    assert reader._current == "pyav" and "decord: ImportError" in reader._tried[0]


def test_fallback_when_a_backend_fails_to_decode(video, monkeypatch):
    def broken(self, indices):
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr(io._Decord, "get", broken)
    reader = VideoReader(video, backend="auto")
    assert reader.get([1, 2]).shape[0] == 2 and reader._current == "pyav"


def test_frame_folder_natural_order(tmp_path):
    for t in (10, 2, 1):
        fx.write_image(tmp_path / f"frame{t}.jpg", seed=t)
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_frame_files(tmp_path)] == ["frame1.jpg", "frame2.jpg", "frame10.jpg"]
    reader = VideoReader(tmp_path, fps=6)
    assert reader.num_frames == 3 and reader.fps == 6 and reader.get([2, 0]).shape == (2, fx.H, fx.W, 3)
    explicit = VideoReader([tmp_path / "frame10.jpg", tmp_path / "frame1.jpg"])
    assert explicit.num_frames == 2


def test_missing_frame_names_the_file(tmp_path):
    fx.write_image(tmp_path / "00000.jpg")
    reader = VideoReader([tmp_path / "00000.jpg", tmp_path / "00005.jpg"], dataset="mevis", sample_id="vid/3")
    assert reader.get([0]).shape[0] == 1
    with pytest.raises(DataError, match=r"\[mevis\] sample vid/3: image file not found.*00005\.jpg") as err:
        reader.get([0, 1])
    assert err.value.dataset == "mevis" and err.value.sample_id == "vid/3" and err.value.path.name == "00005.jpg"


def test_corrupt_video_names_file_and_backends(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    reader = VideoReader(bad, dataset="llava", sample_id="7")
    with pytest.raises(DataError, match="cannot decode video") as err:
        reader.get([0])
    msg = str(err.value)
    assert "broken.mp4" in msg and "[llava] sample 7" in msg and "decord:" in msg and "pyav:" in msg
    with pytest.raises(DataError, match="video file not found"):
        VideoReader(tmp_path / "absent.mp4").get([0])


def test_out_of_range_indices(video):
    with pytest.raises(DataError, match=r"outside \[0, 20\)"):
        VideoReader(video).get([0, 20])


def test_load_json_and_jsonl_errors(tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"x": [1, 2]}))
    assert load_json(good) == {"x": [1, 2]}
    bad = tmp_path / "b.json"
    bad.write_text('[{"id": 1}, {"id": 2,]')
    with pytest.raises(DataError, match=r"malformed JSON.*line 1.*b\.json"):
        load_json(bad, "revos")
    rows = tmp_path / "c.jsonl"
    rows.write_text('{"id": 1}\n\n{"id": 2\n')
    with pytest.raises(DataError, match=r"sample line 3: malformed JSON row.*c\.jsonl"):
        load_json(rows, "osprey")
    rows.write_text('{"id": 1}\n{"id": 2}\n')
    assert load_json(rows) == [{"id": 1}, {"id": 2}]
    with pytest.raises(DataError, match="annotation file not found"):
        load_json(tmp_path / "none.json")


def test_data_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(DataError("refcoco", "12", "/x/y.jpg", "boom")))
    assert (err.dataset, err.sample_id, str(err.path), err.msg) == ("refcoco", "12", "/x/y.jpg", "boom")

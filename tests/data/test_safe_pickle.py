"""The restricted unpickler: plain data in, code never runs."""

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from unipixel.data.safe_pickle import UnsafePickleError, rle_counts_to_str, safe_load, safe_loads


class Hostile:
    def __reduce__(self):
        return (os.system, ("touch /tmp/unipixel_pwned",))


def test_hostile_pickle_raises_and_runs_nothing(tmp_path):
    marker = "/tmp/unipixel_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    for protocol in (0, 2, 5):
        with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
            safe_loads(pickle.dumps([{"ok": 1}, Hostile()], protocol=protocol))
    assert not os.path.exists(marker)
    evil = b"cbuiltins\neval\n(S'__import__(\"os\").getcwd()'\ntR."
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        safe_loads(evil)
    with pytest.raises(UnsafePickleError):
        safe_loads(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")


def test_plain_data_and_refer_shapes(tmp_path):
    refs = [{"ref_id": 0, "sentences": [{"sent": "a man", "tokens": ["a", "man"]}], "split": "train", "x": 1.5}]
    data = {"refs": refs, "set": {1, 2}, "od": OrderedDict(a=1), "none": None, "tup": (1, "b"), "raw": b"\x00\x01"}
    for protocol in (0, 2, 4):
        assert safe_loads(pickle.dumps(data, protocol=protocol)) == {**data, "od": {"a": 1}}
    path = tmp_path / "refs.p"
    path.write_bytes(pickle.dumps(refs, protocol=2))
    assert safe_load(path) == refs
    with open(path, "rb") as f:
        assert safe_load(f) == refs


def test_mask_dict_bytes_counts():
    mask_dict = {"0": [{"size": [4, 5], "counts": b"0:1O"}, None]}
    loaded = safe_loads(pickle.dumps(mask_dict, protocol=2))  # bytes travel through _codecs.encode(..., 'latin1')
    assert loaded == mask_dict
    assert rle_counts_to_str(loaded) == {"0": [{"size": [4, 5], "counts": "0:1O"}, None]}


def test_python2_strings_fall_back_to_utf8_then_latin1():
    # protocol-2 SHORT_BINSTRING opcodes, as Python 2 writes `str`
    utf8 = b"\x80\x02]q\x00U\x05caf\xc3\xa9q\x01a."
    latin1 = b"\x80\x02]q\x00U\x04caf\xe9q\x01a."
    assert safe_loads(utf8) == ["café"] and safe_loads(latin1) == ["café"]
    py2_set = b"\x80\x02c__builtin__\nset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03."
    assert safe_loads(py2_set) == {1}


def test_numpy_only_when_allowed():
    data = pickle.dumps({"a": np.arange(3, dtype=np.int32)}, protocol=2)
    with pytest.raises(UnsafePickleError, match="numpy"):
        safe_loads(data)
    out = safe_loads(data, allow_numpy=True)
    assert out["a"].dtype == np.int32 and out["a"].tolist() == [0, 1, 2]


def test_corrupt_pickle_is_an_unpickling_error():
    with pytest.raises(pickle.UnpicklingError):
        safe_loads(b"\x80\x02]q\x00(K\x01")


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x02c__builtin__\nbytes\nq\x00J\x00\xca\x9a;\x85q\x01Rq\x02.",  # bytes(10**9), 28 bytes of pickle
        b"cbuiltins\nbytearray\n(I1000000000\ntR.",
        b"cbuiltins\nbytes\n(I1000000000\ntR.",
    ],
)
def test_size_bombs_are_refused(data):
    """`bytes(n)` / `bytearray(n)` would allocate n bytes from a few bytes of pickle; only copies of data are let in."""
    with pytest.raises(UnsafePickleError, match=r"(bytes|bytearray)\(int\) is not admitted"):
        safe_loads(data)
    for value in (b"", b"ab", bytearray(b"\xff\x00"), bytearray()):
        for protocol in (0, 2, 3, 5):
            assert safe_loads(pickle.dumps(value, protocol=protocol)) == value


def test_numpy_constructor_cannot_allocate():
    bomb = b"cnumpy\nndarray\n((I1000000000\ntR."
    with pytest.raises(pickle.UnpicklingError):
        safe_loads(bomb, allow_numpy=True)
    reconstruct = b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I1000000000\ntS'b'\ntR."
    with pytest.raises(UnsafePickleError, match="_reconstruct is admitted only"):
        safe_loads(reconstruct, allow_numpy=True)


def test_refusal_names_the_byte_offset():
    data = pickle.dumps([1, 2, Hostile()], protocol=2)
    with pytest.raises(UnsafePickleError, match=r"at byte \d+"):
        safe_loads(data)

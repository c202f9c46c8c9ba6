# Writes h5py_written.h5, the interoperability fixture for H5pyInteropTests.swift.
# Run once (python3 make_h5py_fixture.py) and commit the output; the tests do not need Python.
import h5py
import numpy as np

with h5py.File("h5py_written.h5", "w") as f:
    f.attrs["name"] = "gpt-2 ✓"                       # variable-length UTF-8 str
    f.attrs["ascii"] = np.bytes_(b"abc")              # fixed-length ASCII, null-padded
    f.attrs["fixed_utf8"] = np.array("héllo".encode(), dtype=h5py.string_dtype("utf-8", 10))
    f.attrs["n_layer"] = 12                            # int64
    f.attrs["small"] = np.int32(-7)                    # int32
    f.attrs["dropout"] = 0.1                           # float64
    f.attrs["half"] = np.float32(0.5)                  # float32 scalar
    f.attrs["bias"] = True                             # h5py enum bool
    f.attrs["shape"] = [1, 2, 3]                       # int64 array
    f.attrs["betas"] = [0.9, 0.95]                     # float64 array
    f.attrs["scales"] = np.array([1.5, -2.0], dtype=np.float32)
    f.attrs["names"] = ["a", "bc", "ü"]                # vlen str array
    f.attrs["fixed_names"] = np.array([b"xy", b"z"])   # fixed str array (S2)

    g = f.create_group("model")
    g.attrs["kind"] = "gpt"
    g.create_dataset("transformer.wte.weight", data=np.arange(12, dtype=np.float32).reshape(4, 3))
    g["lm_head.weight"] = g["transformer.wte.weight"]  # hard link
    f.create_dataset("tokens", data=np.array([0, 1, 50256, 65535, 7], dtype=np.uint16))
    f.create_dataset("int32", data=np.arange(-3, 3, dtype=np.int32).reshape(2, 3))
    f.create_dataset("words", data=["Ġthe", "ü", ""])           # variable-length str
    f.create_dataset("fixed_words", data=np.array([b"ab", b"c"]))  # fixed-length S2
    f.create_dataset("stream", data=np.arange(10, dtype=np.uint32), maxshape=(None,), chunks=(4,))

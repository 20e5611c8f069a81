"""Read a PyTorch ``.bin``/``.ckpt`` (the zip format ``torch.save`` writes) into numpy, without torch.

The zip holds ``<root>/data.pkl`` (a pickle whose tensors are persistent ids naming a storage) and
``<root>/data/<key>`` (each storage's raw little-endian bytes). A restricted unpickler rebuilds
tensors as numpy views of those bytes and turns every other class the pickle names (omegaconf
containers, pyannote's task specifications, pytorch-lightning callbacks, ...) into an inert
``Opaque`` record of its constructor arguments and state: nothing from the file is ever imported
or called, which also makes it safer than ``torch.load`` on an untrusted file.

    ckpt = read_checkpoint("pytorch_model.bin")
    ckpt["state_dict"]["classifier.weight"]        # np.ndarray, float32
    ckpt["hyper_parameters"]["lstm"]["num_layers"]  # plain Python values
"""

from __future__ import annotations

import builtins
import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: storage class name -> numpy dtype (torch's legacy typed storages; little-endian on disk)
STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": None,  # no numpy dtype: refused with a message
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
SAFE_BUILTINS = {"list", "dict", "set", "frozenset", "tuple", "int", "float", "bool", "str", "bytes", "complex",
                 "slice", "range", "object"}  # fmt: skip


class Opaque:
    """A class instance from the pickle that we do not import: its name, arguments and state."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # containers rebuilt item by item
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("list_items", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("list_items", []).extend(values)

    def __repr__(self) -> str:
        return f"Opaque({type(self).__qualname__}, {self.__dict__})"


def _opaque_class(module: str, name: str) -> type[Opaque]:
    return type(name, (Opaque,), {"__module__": f"opaque.{module}", "__qualname__": f"{module}.{name}"})


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2: a strided view of a flat storage, copied to own its memory."""
    if not size:
        return storage[offset].copy()
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride), writeable=False
    )
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, root: str):
        super().__init__(file)
        self._archive, self._root = archive, root
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__"):
            if name == "long":
                return int
            if name in SAFE_BUILTINS:
                return getattr(builtins, name)
        if module == "collections" and name in ("OrderedDict", "defaultdict"):
            return getattr(collections, name)
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        return _opaque_class(module, name)  # storages (FloatStorage ...) are only named by persistent ids

    def persistent_load(self, pid: Any) -> np.ndarray:
        # ("storage", <storage class>, key, location, numel)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        cls, key = pid[1], str(pid[2])
        if key not in self._storages:
            kind = getattr(cls, "__name__", str(cls))
            dtype = STORAGE_DTYPES.get(kind)
            if dtype is None:
                raise ValueError(f"checkpoint storage {kind} has no numpy dtype this reader supports")
            data = self._archive.read(f"{self._root}/data/{key}")
            self._storages[key] = np.frombuffer(data, dtype=np.dtype(dtype))
        return self._storages[key]


def read_checkpoint(path: str | Path) -> Any:
    """The object ``torch.save`` wrote to ``path`` (zip format), tensors as numpy arrays."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a zip-format PyTorch file (torch.save since 1.6); legacy tar/pickle "
            "checkpoints are not read without torch"
        )
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one <root>/data.pkl in the zip, found {pickles}")
        root = pickles[0].rsplit("/", 1)[0]
        with archive.open(pickles[0]) as f:
            return _Unpickler(f, archive, root).load()

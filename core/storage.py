"""Plain-JSON persistence of a FittedFlow (no pickle: opening a .blend runs no code).

The one persistence API: `to_json(flow)` / `from_json(text)`, and `to_dict` / `from_dict`
for the plain data in between. FittedFlow itself knows nothing of storage."""
import base64
import dataclasses
import json
import zlib

import numpy as np
import torch

from . import snap
from .field import VelocityField
from .fitted_flow import FittedFlow
from .parts import SphereSet
from .source import MeshSource
from .settings import FitSettings

FORMAT_VERSION = 2  # 2: feature-grid field, affine normalisation, compressed weights
ADDON_VERSION = "0.1.0"  # kept equal to blender_manifest.toml's version (a test checks)
KIND = "neural_morph.sphere_flow"
HALF = "grids."  # weights stored in float16: the feature grids (most of the size)


def to_dict(flow: FittedFlow) -> dict:
    """Plain data: JSON-safe header plus weights as base64 zlib-compressed little-endian
    arrays (float16 for the feature grids, float32 for the rest; see `round_to_stored`)."""
    weights = {k: _encode(v, k.startswith(HALF)) for k, v in flow.field.state_dict().items()}
    return {
        "format": FORMAT_VERSION,
        "kind": KIND,
        "written_by": ADDON_VERSION,
        "architecture": flow.field.architecture(),
        "settings": dataclasses.asdict(flow.settings),
        "matrix": flow.matrix().tolist(),
        "parts": None if flow.from_mesh else flow.start.to_list(),
        "source_mesh": flow.start.to_dict() if flow.from_mesh else None,
        "start_matrix": None if flow.start_matrix is None else flow.start_matrix.tolist(),
        "surface_samples": (None if flow.surface_samples is None
                            else snap.encode(flow.surface_samples)),
        "surface_normals": (None if flow.surface_normals is None
                            else snap.encode_normals(flow.surface_normals)),
        "iterations": flow.iterations,
        "seconds": flow.seconds,
        "history": [float(h) for h in flow.history[-2000:]],
        "weights": weights,
    }


def to_json(flow: FittedFlow) -> str:
    """The flow as compact JSON text (what a morph object stores)."""
    return json.dumps(to_dict(flow), separators=(",", ":"))


def from_dict(data) -> FittedFlow:
    """Rebuild a FittedFlow from `to_dict` output; ValueError with a sentence when it cannot."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError("The stored data is not a Neural Morph flow.")
    version = data.get("format")
    if version != FORMAT_VERSION:
        writer = data.get("written_by", "an unknown version")
        raise ValueError(
            f"The stored flow was written by Neural Morph {writer} (format version {version}), "
            f"but this is Neural Morph {ADDON_VERSION}, which reads format version "
            f"{FORMAT_VERSION}. Refit the object with this version.")
    try:
        arch = data["architecture"]
        field = VelocityField(arch["width"], arch["depth"], arch["grid_sizes"], arch["channels"])
        known = {f.name for f in dataclasses.fields(FitSettings)}
        values = {k: v for k, v in data["settings"].items() if k in known}
        values["grid_sizes"] = tuple(values.get("grid_sizes", ()))
        settings = FitSettings(**values)
        state = {k: _decode(v, field.state_dict()[k].shape, k.startswith(HALF))
                 for k, v in data["weights"].items()}
        field.load_state_dict(state)
        matrix = np.asarray(data["matrix"], dtype=np.float64)
        if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
            raise ValueError("the normalisation matrix is not a finite 4 × 4 matrix")
        parts, mesh = data.get("parts"), data.get("source_mesh")
        start = (MeshSource.from_dict(mesh) if mesh is not None
                 else SphereSet.from_list(parts) if parts is not None
                 else SphereSet.unit(float(data.get("radius", 1.0))))
        start_matrix = data.get("start_matrix")
        if start_matrix is not None:
            start_matrix = np.asarray(start_matrix, dtype=np.float64)
            if start_matrix.shape != (4, 4) or not np.isfinite(start_matrix).all():
                raise ValueError("the source's normalisation matrix is not a finite 4 × 4 matrix")
        flow = FittedFlow(field.eval(), matrix, settings,
                          data.get("history", ()), data.get("iterations", 0),
                          data.get("seconds", 0.0), start, start_matrix)
        samples = data.get("surface_samples")
        flow.surface_samples = None if samples is None else snap.decode(samples)
        normals = data.get("surface_normals")  # absent from flows stored before them
        flow.surface_normals = None if normals is None else snap.decode_normals(normals)
        return flow
    except (KeyError, TypeError, ValueError, RuntimeError, zlib.error) as exc:
        raise ValueError(f"The stored flow is damaged and cannot be read ({exc}).") from None


def from_json(text) -> FittedFlow:
    """The FittedFlow in `to_json` text; ValueError with a sentence when it cannot."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("The stored flow is damaged and cannot be read (invalid JSON).") from None
    return from_dict(data)


@torch.no_grad()
def round_to_stored(field):
    """Round the weights stored at lower precision in place, so that the flow a fit
    returns (and its output mesh) is exactly the flow that a .blend gives back."""
    for name, tensor in field.state_dict().items():
        if name.startswith(HALF):
            tensor.copy_(tensor.half().float())
    return field


def _encode(tensor, half=False):
    arr = tensor.detach().cpu().numpy().astype("<f2" if half else "<f4")
    return base64.b64encode(zlib.compress(arr.tobytes(), 6)).decode("ascii")


def _decode(text, shape, half=False):
    raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    arr = np.frombuffer(raw, dtype="<f2" if half else "<f4")
    if arr.size != int(np.prod(shape)):
        raise ValueError("weight sizes do not match the architecture")
    return torch.from_numpy(arr.astype(np.float32)).reshape(shape)

"""Plain-JSON persistence of a FittedFlow (no pickle: opening a .blend runs no code)."""
import base64
import dataclasses
import json

import numpy as np
import torch

from .field import VelocityField
from .settings import FitSettings

FORMAT_VERSION = 1
ADDON_VERSION = "0.1.0"  # kept equal to blender_manifest.toml's version (a test checks)
KIND = "neural_morph.sphere_flow"


def to_dict(flow):
    """Plain data: JSON-safe header plus float32 weights as base64 strings."""
    weights = {k: _encode(v) for k, v in flow.field.state_dict().items()}
    return {
        "format": FORMAT_VERSION,
        "kind": KIND,
        "written_by": ADDON_VERSION,
        "architecture": {"width": flow.field.width, "depth": flow.field.depth},
        "settings": dataclasses.asdict(flow.settings),
        "center": flow.center.tolist(),
        "scale": flow.scale,
        "radius": flow.radius,
        "iterations": flow.iterations,
        "seconds": flow.seconds,
        "history": [float(h) for h in flow.history[-2000:]],
        "weights": weights,
    }


def to_json(flow):
    return json.dumps(to_dict(flow), separators=(",", ":"))


def from_dict(data, cls=None):
    """Rebuild a FittedFlow from `to_dict` output; ValueError with a sentence when it cannot."""
    if cls is None:
        from .fitted_flow import FittedFlow as cls
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
        field = VelocityField(arch["width"], arch["depth"])
        known = {f.name for f in dataclasses.fields(FitSettings)}
        settings = FitSettings(**{k: v for k, v in data["settings"].items() if k in known})
        state = {k: _decode(v, field.state_dict()[k].shape) for k, v in data["weights"].items()}
        field.load_state_dict(state)
        return cls(field.eval(), data["center"], data["scale"], settings,
                   data.get("history", ()), data.get("iterations", 0),
                   data.get("seconds", 0.0), data.get("radius", 1.0))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"The stored flow is damaged and cannot be read ({exc}).") from None


def from_json(text, cls=None):
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("The stored flow is damaged and cannot be read (invalid JSON).") from None
    return from_dict(data, cls)


def _encode(tensor):
    return base64.b64encode(tensor.detach().cpu().float().numpy().tobytes()).decode("ascii")


def _decode(text, shape):
    arr = np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype=np.float32)
    if arr.size != int(np.prod(shape)):
        raise ValueError("weight sizes do not match the architecture")
    return torch.from_numpy(arr.copy()).reshape(shape)

"""Neural Morph maths: no bpy here, ever. The fit needs torch, torchdiffeq and scipy.

`import core` is cheap: it loads only the torch-free settings and icosphere; every other
public name is imported from its submodule on first use (PEP 562), so Blender code can
`from .. import core` at module top and still register without torch installed.

This is the whole public surface, what the operators, the API and the Blender glue use.
Tests and tools import submodules (core.losses, core.metrics, ...) for anything else.
"""
import importlib
import os

# torch's OpenMP threads spin while they wait, so a fit beside another busy process (a
# second fit, a render) slowed 5×; passive waiting costs nothing on a quiet machine
# (bench/busy.py). OpenMP reads this once, when torch loads: torch is imported lazily,
# after this line, unless something else in the process imported it first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .icosphere import icosphere, icosphere_counts, sphere_uvs
from .settings import SOLVERS, FitSettings, user_settings

# name -> submodule that defines it, imported on first attribute access
_LAZY = {
    "fit": "training", "Cancelled": "training",
    "run_fit": "pipeline", "FitResult": "pipeline", "output_mesh": "pipeline",
    "beyond_start": "pipeline",
    "FittedFlow": "fitted_flow",
    "ADDON_VERSION": "storage", "FORMAT_VERSION": "storage",
    "FitJob": "job",
    "sample_surface": "sampling", "outward_normals": "sampling", "face_components": "sampling",
    "is_closed": "sampling",
    "surface_parts": "parts", "SphereSet": "parts", "MeshSource": "source",
    "split_branches": "branches",
    "normalization": "normalize",
    "count_self_intersections": "intersect",
    "eased_frames": "animation", "blend_states": "animation", "blend_state": "animation",
    "clean_trajectory": "animation", "clean_keys": "animation", "Timing": "animation",
    "shown_state": "animation",
}

__all__ = ["FitSettings", "user_settings", "SOLVERS", "icosphere", "icosphere_counts",
           "sphere_uvs", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)

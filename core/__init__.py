"""Neural Morph maths: no bpy here. Needs torch, torchdiffeq, numpy and scipy.

Public surface:
    fit(target_points, settings, progress, cancel) -> FittedFlow
    FittedFlow.surface(level) / trajectory(level, times) / inverse(points)
"""
from .fit import Cancelled, FitSettings, fit
from .flow import BlendedField, VelocityField, integrate
from .icosphere import face_corner_uvs, icosphere, icosphere_counts
from .intersect import count_self_intersections, self_intersecting_faces
from .chamfer import chamfer_distance
from .model import ADDON_VERSION, FORMAT_VERSION, FittedFlow
from .normalize import normalization
from .morph import MorphResult, build_morph, choose_level, mesh_chamfer
from .job import FitJob
from .sampling import sample_surface, triangle_areas

__all__ = [
    "Cancelled", "FitSettings", "fit", "BlendedField", "VelocityField", "integrate",
    "face_corner_uvs", "icosphere", "icosphere_counts", "count_self_intersections",
    "self_intersecting_faces", "chamfer_distance", "ADDON_VERSION", "FORMAT_VERSION", "FittedFlow",
    "normalization", "MorphResult", "build_morph", "choose_level", "mesh_chamfer", "FitJob", "sample_surface", "triangle_areas",
]

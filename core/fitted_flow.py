"""FittedFlow: a trained flow from the sphere (or a source mesh) plus the transforms back
to the target's space."""
import copy

import numpy as np
import torch

from scipy.spatial import cKDTree

from . import seams, snap
from .parts import SphereSet
from .source import MeshSource
from .solvers import integrate

_CHUNK = 65_536


class FittedFlow:
    """A fitted flow φ: start surface -> target surface, in normalised space. The start
    (`start`, the t=0 surface) is one unit sphere, one sphere per separate part
    (parts.SphereSet), or a user's mesh (source.MeshSource, Morph Onto).

    Saved and loaded as plain JSON by storage.py (`storage.to_json(flow)`,
    `storage.from_json(text)`).

    `matrix` (4, 4) maps normalised points u to target space as M[:3, :3] @ u + M[:3, 3]
    (core/normalize.py). Every method takes and returns float arrays; `normalized=True`
    skips that transform. A flow from a source mesh also has `start_matrix`, the source's
    own normalisation: the morph is placed by `placement(t)`, from the source's place at
    t=0 to the target's at t=1.
    """

    def __init__(self, field, matrix, settings, history=(), iterations=0, seconds=0.0,
                 start=None, start_matrix=None):
        self.field = field
        self._matrix = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
        self.settings = settings
        self.history = list(history)
        self.iterations = int(iterations)
        self.seconds = float(seconds)
        self.start = start if start is not None else SphereSet.unit()  # the t=0 surface
        self.start_matrix = None if start_matrix is None else np.asarray(
            start_matrix, dtype=np.float64).reshape(4, 4)
        self._samples, self._tree = None, None  # target samples the output snaps onto (snap.py)
        self._normals = None  # (M, 3) the target's unit normals at those samples, or None

    @property
    def spheres(self):
        """The t=0 surface (`start`), for callers that know it is spheres."""
        return self.start

    @property
    def from_mesh(self):
        """Whether the flow starts from a user's mesh (Morph Onto), not from spheres."""
        return isinstance(self.start, MeshSource)

    # -- transforms ---------------------------------------------------------------------
    def placement(self, t):
        """(4, 4) matrix placing normalised points at time t in target space: `matrix` for
        a flow from spheres (they start inside the target's unit ball); for a flow from a
        mesh, the source's `start_matrix` at t=0 to `matrix` at t=1, through rotations
        (slerp) and stretches (linear) of the two, so it is never singular."""
        if self.start_matrix is None:
            return self.matrix()
        return _between(self.start_matrix, self._matrix, float(t))

    def mesh_state(self, unit_points, t):
        """Normalised points (..., 3) at time t -> the morph object's mesh space (..., 3):
        as they are for a flow from spheres (the object's matrix is `matrix`); placed by
        `placement(t)` for a flow from a mesh (its object keeps the source's matrix, and
        the target space is that object's mesh space)."""
        if self.start_matrix is None:
            return np.asarray(unit_points, dtype=np.float64)
        m = self.placement(t)
        return np.asarray(unit_points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]

    def matrix(self):
        """(4, 4) float64 matrix mapping normalised mesh space to target (world) space.
        Blender object matrices come from here."""
        return self._matrix.copy()

    def to_target(self, unit_points):
        """Normalised (..., 3) -> target space (..., 3) float64."""
        m = self._matrix
        return np.asarray(unit_points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]

    def to_normalized(self, points):
        """Target space (..., 3) -> normalised (..., 3) float64."""
        m = self._matrix
        return (np.asarray(points, dtype=np.float64) - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T

    # -- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def flow(self, points, t0=0.0, t1=1.0, times=None):
        """Carry normalised points (N, 3) from time t0 to t1, or to each of `times` in [0, 1].

        Returns (N, 3) float64, or (T, N, 3) for `times` (starting from t=0). Both use the
        output solver grid (`steps` fixed steps per unit time, finer than training's, on
        which the field was trained to be a true ODE); a time between grid points takes
        one partial step from the grid point before it, so every state is a solver state.
        """
        x = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self.field.eval()
        if times is None:
            out = np.empty((len(x), 3))
            for a in range(0, len(x), _CHUNK):
                out[a:a + _CHUNK] = self._solve(x[a:a + _CHUNK], [t0, t1])[-1]
            return out
        times = [float(t) for t in times]
        if min(times) < 0.0 or max(times) > 1.0:
            raise ValueError("Trajectory times must lie between 0 (sphere) and 1 (shape).")
        steps = self.settings.steps
        grid = [k / steps for k in range(steps + 1)]
        out = np.empty((len(times), len(x), 3))
        for a in range(0, len(x), _CHUNK):
            states = self._solve(x[a:a + _CHUNK], grid)
            for i, t in enumerate(times):
                k = min(int(np.floor(t * steps + 1e-9)), steps)
                if abs(t - grid[k]) < 1e-9:
                    out[i, a:a + _CHUNK] = states[k]
                else:
                    out[i, a:a + _CHUNK] = self._solve(states[k], [grid[k], t], single_step=True)[-1]
        return out

    def _solve(self, x, grid, single_step=False):
        """Integrate (N, 3) from grid[0] through each grid time: (len(grid), N, 3) float64."""
        s = self.settings
        span = abs(grid[-1] - grid[0])
        steps = 1 / span if single_step else s.steps
        xt = torch.as_tensor(x, dtype=torch.float32)
        states = integrate(self.field, xt, torch.tensor(grid, dtype=torch.float32), s.method, steps)
        return states.double().numpy()

    @property
    def surface_samples(self):
        """(M, 3) float64 normalised target samples the output snaps onto, or None."""
        return self._samples

    @surface_samples.setter
    def surface_samples(self, points):
        """Setting the samples drops their normals (set `surface_normals` after them)."""
        self._samples = None if points is None else snap.quantize(points)
        self._tree, self._normals = None, None

    @property
    def surface_normals(self):
        """(M, 3) float64 unit target normals at `surface_samples` (normalised space), or None."""
        return self._normals

    @surface_normals.setter
    def surface_normals(self, normals):
        if normals is not None and (self._samples is None or len(normals) != len(self._samples)):
            raise ValueError(snap.NORMALS_MESSAGE)
        self._normals = None if normals is None else snap.quantize_normals(normals)

    def normals_to_normalized(self, normals):
        """Normals (N, 3) in target space -> unit normals (N, 3) float64 in normalised space
        (the plane through a point keeps its normal: n_u ∝ M[:3, :3]ᵀ n)."""
        return snap.unit_normals(snap.unit_normals(normals) @ self._matrix[:3, :3])

    @property
    def snaps(self):
        """Whether outputs at t = 1 take the snap step (samples stored, settings.snap on)."""
        return self._samples is not None and getattr(self.settings, "snap", True)

    def snapped(self, verts, faces):
        """`verts` (V, 3) normalised, the state at t = 1, moved onto the target's surface
        samples (snap.py, with their normals when stored); unchanged without samples or
        with settings.snap off."""
        if not self.snaps:
            return np.asarray(verts, dtype=np.float64)
        return snap.snap(verts, faces, self._samples, self._sample_tree(), self._normals)

    def creased(self, verts, faces):
        """`verts` (V, 3) normalised, a snapped output, moved onto the target's edges and
        corners near them (snap.crease); unchanged without stored normals or with
        settings.snap off."""
        if not self.snaps or self._normals is None:
            return np.asarray(verts, dtype=np.float64)
        return snap.crease(verts, faces, self._samples, self._normals, self._sample_tree())

    def seamed(self, verts, faces, level, report=None):
        """(goal (V, 3), sides (V,) bool) for `verts` (V, 3) normalised, a clean output at
        `level`: each sphere that meets a bigger one on the target stretched until the
        gap between them closes, and which moved vertices are on its sides, for the snap
        (seams.seam_goals). `verts` and no sides for one sphere, a user's mesh, without
        stored normals or with settings.snap off."""
        verts = np.asarray(verts, dtype=np.float64)
        if not self.snaps or self._normals is None or self.from_mesh or self.start.count < 2:
            return verts, np.zeros(len(verts), dtype=bool)
        return seams.seam_goals(verts, faces, self.start.mesh(level)[2], self.start.shares,
                                self._samples, self._normals, self._sample_tree(), report)

    def sample_distance(self, verts):
        """(V,) distance from each of `verts` (V, 3) normalised to the nearest stored target
        sample, or None without samples."""
        if self._samples is None:
            return None
        return self._sample_tree().query(np.asarray(verts, dtype=np.float64))[0]

    def _sample_tree(self):
        """The KD-tree of the stored target samples, built on first use (samples stored)."""
        if self._tree is None:
            self._tree = cKDTree(self._samples)
        return self._tree

    def chamfer(self, verts, faces):
        """The reported Chamfer figure (metrics.mesh_chamfer) of a mesh (V, 3) normalised
        against the stored target samples (at most 50,000), or None without samples."""
        if self._samples is None:
            return None
        from .metrics import mesh_chamfer
        return mesh_chamfer(verts, faces, self._samples[:50_000], seed=self.settings.seed)

    def sphere(self, level):
        """The t=0 surface at `level`: one icosphere per part (parts.SphereSet.mesh), or
        the source mesh at any level, as (verts (V, 3) float64 normalised, faces (F, 3)
        int64 triangles)."""
        verts, faces, _ = self.start.mesh(level)
        return verts, faces

    def sphere_uvs(self, level):
        """Per-corner UVs (F·3, 2) float32 of `sphere(level)`: each part's sphere map."""
        return self.spheres.uvs(level)

    def surface(self, level, normalized=False):
        """Flowed spheres, snapped (no untangling): (verts (V, 3) float64, faces (F, 3)
        int64), target space by default."""
        verts, faces = self.sphere(level)
        moved = self.snapped(self.flow(verts), faces)
        return (moved if normalized else self.to_target(moved)), faces

    def path(self, level, t=1.0):
        """States of the spheres on the output solver grid from t=0 up to `t`, and at `t`
        itself: (K+1, V, 3) float64 normalised, [0] the spheres, [-1] the state at t. At
        t = 1 one more state follows: the last one snapped onto the target (`snapped`)."""
        steps = self.settings.steps
        times = [k / steps for k in range(steps + 1) if k / steps < t - 1e-9] + [float(t)]
        verts, faces = self.sphere(level)
        states = self.flow(verts, times=times)
        if t >= 1.0 and self.snaps:
            states = np.concatenate([states, self.snapped(states[-1], faces)[None]])
        return states

    def trajectory(self, level, times, normalized=False):
        """States of the spheres at each time in `times` (0 = sphere, 1 = shape, snapped):
        (T, V, 3)."""
        verts, faces = self.sphere(level)
        times = list(times)
        states = self.flow(verts, times=times)
        for i, t in enumerate(times):
            if float(t) >= 1.0:
                states[i] = self.snapped(states[i], faces)
        return (states if normalized else self.to_target(states)), faces

    def inverse(self, points, normalized=False, corrections=3):
        """Surface points (N, 3) -> sphere points (N, 3), by backward integration.

        Backward integration on the same solver grid only approximates the inverse of the
        forward solver map; `corrections` rounds of x += B(y) - B(φ(x)) (B: backward,
        φ: forward) make φ(x) = y hold to solver precision for points on the output surface.
        """
        unit = np.asarray(points, dtype=np.float64) if normalized else self.to_normalized(points)
        goal = self.flow(unit, t0=1.0, t1=0.0)
        x = goal.copy()
        for _ in range(corrections):
            x += goal - self.flow(self.flow(x), t0=1.0, t1=0.0)
        return x if normalized else self.to_target(x)

    def copy(self):
        """An independent deep copy (weights included)."""
        return copy.deepcopy(self)


def _between(a, b, t):
    """(4, 4) affine matrix between `a` (t=0) and `b` (t=1): each 3×3 part split into a
    rotation and a symmetric stretch (polar decomposition), the rotations slerped and the
    stretches and translations interpolated linearly. Both are orientation-preserving
    (normalize.py), so every matrix between them is invertible."""
    from scipy.spatial.transform import Rotation, Slerp
    rotations, stretches = [], []
    for m in (a, b):
        u, sigma, vt = np.linalg.svd(m[:3, :3])
        rotations.append(u @ vt)
        stretches.append(vt.T @ np.diag(sigma) @ vt)
    turn = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack(rotations)))([t]).as_matrix()[0]
    out = np.eye(4)
    out[:3, :3] = turn @ ((1.0 - t) * stretches[0] + t * stretches[1])
    out[:3, 3] = (1.0 - t) * a[:3, 3] + t * b[:3, 3]
    return out

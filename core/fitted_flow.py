"""FittedFlow: a trained sphere flow plus the transform back to the target's space."""
import copy

import numpy as np
import torch

from scipy.spatial import cKDTree

from . import snap
from .parts import SphereSet
from .solvers import integrate

_CHUNK = 65_536


class FittedFlow:
    """A fitted flow φ: unit sphere -> target surface, in normalised space.

    Saved and loaded as plain JSON by storage.py (`storage.to_json(flow)`,
    `storage.from_json(text)`).

    `matrix` (4, 4) maps normalised points u to target space as M[:3, :3] @ u + M[:3, 3]
    (core/normalize.py). Every method takes and returns float arrays; `normalized=True`
    skips that transform.
    """

    def __init__(self, field, matrix, settings, history=(), iterations=0, seconds=0.0,
                 spheres=None):
        self.field = field
        self._matrix = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
        self.settings = settings
        self.history = list(history)
        self.iterations = int(iterations)
        self.seconds = float(seconds)
        self.spheres = spheres if spheres is not None else SphereSet.unit()  # the t=0 surface
        self._samples, self._tree = None, None  # target samples the output snaps onto (snap.py)

    # -- transforms ---------------------------------------------------------------------
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
        self._samples = None if points is None else snap.quantize(points)
        self._tree = None

    def snapped(self, verts, faces):
        """`verts` (V, 3) normalised, the state at t = 1, moved onto the target's surface
        samples (snap.py); unchanged without samples or with settings.snap off."""
        if self._samples is None or not getattr(self.settings, "snap", True):
            return np.asarray(verts, dtype=np.float64)
        if self._tree is None:
            self._tree = cKDTree(self._samples)
        return snap.snap(verts, faces, self._samples, self._tree)

    def chamfer(self, verts, faces):
        """The reported Chamfer figure (metrics.mesh_chamfer) of a mesh (V, 3) normalised
        against the stored target samples (at most 50,000), or None without samples."""
        if self._samples is None:
            return None
        from .metrics import mesh_chamfer
        return mesh_chamfer(verts, faces, self._samples[:50_000], seed=self.settings.seed)

    def sphere(self, level):
        """The t=0 surface at `level`: one icosphere per part (parts.SphereSet.mesh), as
        (verts (V, 3) float64 normalised, faces (F, 3) int64)."""
        verts, faces, _ = self.spheres.mesh(level)
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
        if t >= 1.0 and self._samples is not None:
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

"""A fit running on a worker thread: start, poll, cancel, result."""
import threading
import time
import traceback

import numpy as np

from .pipeline import output_mesh, run_fit
from .training import Cancelled


class FitJob:
    """Runs `run_fit` on a daemon thread; the caller polls from its own thread.

    `poll()` returns (state, iteration, loss) with state in {"running", "done",
    "cancelled", "failed"}. Nothing here touches Blender data.
    """

    def __init__(self, target_points, settings, init=None, preview_level=None, find=None,
                 labels=None, source=None, normals=None, backed=None):
        self.target_points = target_points
        self.labels = labels
        self.normals = normals  # (M, 3) target normals at the points, for the snap, or None
        self.backed = backed  # (M,) bool, the target has surface behind each point, or None
        self.source = source  # (verts, faces) of a mesh to start from (run_fit), or None
        self.preview_level = preview_level
        self.find = find
        self.preview = None          # (V, 3) float32 normalised vertices of the latest preview
        self.preview_faces = None    # (F, 3) its faces (one icosphere per part)
        self.preview_version = 0
        self.transform = None        # (4, 4) normalised -> world matrix of the fit (FittedFlow.matrix)
        self.settings = settings
        self.init = init
        self.iteration = 0
        self.loss = float("nan")
        self.total = settings.iterations
        self.state = "idle"
        self.error: Exception | None = None
        self.traceback = None        # the worker's formatted traceback when it failed
        self._result = None
        self._cancel = threading.Event()
        self._thread = None
        self.started_at = None

    def start(self):
        self.state = "running"
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="neural-morph-fit", daemon=True)
        self._thread.start()
        return self

    def _progress(self, iteration, loss):
        self.iteration, self.loss = iteration, loss

    def _snapshot(self, model):
        verts, faces, _, _ = output_mesh(model, self.preview_level, find=None)
        self.preview_faces = faces
        self.transform = model.matrix()
        self.preview = verts.astype(np.float32)
        self.preview_version += 1

    def _run(self):
        try:
            snapshot = self._snapshot if self.preview_level is not None else None
            extra = {"find": self.find} if self.find is not None else {}
            self._result = run_fit(self.target_points, self.settings, self._progress,
                                   self._cancel, self.init, snapshot, labels=self.labels,
                                   source=self.source, normals=self.normals,
                                   backed=self.backed, **extra)
            self.state = "done"
        except Cancelled:
            self.state = "cancelled"
        except Exception as exc:  # reported to the user by the caller, traceback included
            self.error = exc
            self.traceback = traceback.format_exc()
            self.state = "failed"

    def poll(self):
        return self.state, self.iteration, self.loss

    @property
    def fraction(self):
        return min(1.0, self.iteration / max(self.total, 1))

    def cancel(self, wait=True, timeout=5.0):
        """Ask the worker to stop; with `wait`, join it (it stops at the next iteration)."""
        self._cancel.set()
        if wait and self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def result(self):
        """The FitResult once state is "done"; raises the worker's error if it failed."""
        if self.state == "failed":
            assert self.error is not None  # set together with the state
            raise self.error
        return self._result

"""The UI path: the job object that the modal operator forwards to.

In the bpy module INVOKE_DEFAULT never reaches invoke() (no window or event), so these
tests drive blender.jobs (the running-job registry) directly: progress, cancel, one at a time.
"""
import time
from types import SimpleNamespace

import bpy
import numpy as np
import pytest

from conftest import counts
from neural_morph.blender import guards, meshes, store
from neural_morph.blender import jobs as fit_ops


def props(**overrides):
    values = dict(target="", iterations=40, resolution=2, points=128, learning_rate=3e-3,
                  steps=4, seed=0)
    values.update(overrides)
    return SimpleNamespace(**values)


def wait_for(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_job_progresses_and_writes_result(suzanne):
    before = counts()
    job = fit_ops.start_job(bpy.context, props())
    assert fit_ops.active_job() is job
    wait_for(lambda: job.iteration > 0)
    assert 0 < job.fraction <= 1
    assert counts() == before  # nothing is created while fitting
    wait_for(lambda: job.poll()[0] != "running", 300)
    obj, figures = fit_ops.finish_job(bpy.context, job)
    assert obj.name == "Suzanne Morph" and figures["iterations"] == 40
    assert counts() == (before[0] + 1, before[1] + 1)
    assert fit_ops.active_job() is None


def test_only_one_job_at_a_time_and_cancel_is_quick(suzanne):
    before = counts()
    job = fit_ops.start_job(bpy.context, props(iterations=100_000))
    try:
        with pytest.raises(guards.InputError, match="already running"):
            fit_ops.start_job(bpy.context, props())
        wait_for(lambda: job.iteration > 1)
    finally:
        t0 = time.perf_counter()
        fit_ops.cancel_job()
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert job.poll()[0] == "cancelled"
    assert fit_ops.active_job() is None
    assert counts() == before


def test_job_refuses_bad_input_before_starting(scene):
    bpy.ops.object.camera_add()
    with pytest.raises(guards.InputError, match="not a mesh"):
        fit_ops.start_job(bpy.context, props())
    assert fit_ops.active_job() is None


def test_live_preview_appears_and_cancel_removes_it(suzanne):
    before = counts()
    job = fit_ops.start_job(bpy.context, props(iterations=100_000))
    try:
        wait_for(lambda: job.preview_version > 0)
        preview = fit_ops.update_preview(bpy.context)
        assert preview.name == "Suzanne Morph Preview"
        assert store.FLOW_KEY not in preview.keys() and "neural_morph_source" not in preview.keys()
        assert counts() == (before[0] + 1, before[1] + 1)
        version = job.preview_version
        wait_for(lambda: job.preview_version > version)
        old = meshes.mesh_vertices(preview.data)
        fit_ops.update_preview(bpy.context)
        assert not np.array_equal(old, meshes.mesh_vertices(preview.data))  # the shape grows
    finally:
        fit_ops.cancel_job()
    assert counts() == before
    assert job.poll()[0] == "cancelled"


@pytest.mark.slow
def test_finished_job_replaces_preview_with_result(suzanne):
    before = counts()
    job = fit_ops.start_job(bpy.context, props(iterations=60))
    wait_for(lambda: job.preview_version > 0)
    fit_ops.update_preview(bpy.context)
    wait_for(lambda: job.poll()[0] != "running", 300)
    obj, _ = fit_ops.finish_job(bpy.context, job)
    assert counts() == (before[0] + 1, before[1] + 1)
    assert "Suzanne Morph Preview" not in bpy.data.objects and obj.name == "Suzanne Morph"


def test_loading_a_file_stops_the_fit(suzanne):
    job = fit_ops.start_job(bpy.context, props(iterations=100_000))
    wait_for(lambda: job.iteration > 0)
    bpy.ops.wm.read_homefile(use_empty=True)
    assert job.poll()[0] == "cancelled" and fit_ops.active_job() is None


def test_one_undo_removes_a_finished_fit(suzanne):
    bpy.ops.ed.undo_push(message="before fit")
    bpy.ops.neural_morph.fit(iterations=10, points=64, resolution=1)
    assert "Suzanne Morph" in bpy.data.objects
    bpy.ops.ed.undo_push(message="Fit Neural Morph")  # bpy-module operators push no step
    bpy.ops.ed.undo()
    assert "Suzanne Morph" not in bpy.data.objects and "Suzanne" in bpy.data.objects


@pytest.mark.slow
def test_same_seed_gives_same_vertices_through_the_operator(suzanne):
    bpy.ops.neural_morph.fit(iterations=15, points=64, resolution=2, seed=3)
    first = meshes.mesh_vertices(bpy.context.active_object.data)
    bpy.ops.neural_morph.fit(target="Suzanne", iterations=15, points=64, resolution=2, seed=3)
    assert np.array_equal(first, meshes.mesh_vertices(bpy.context.active_object.data))


def test_failed_job_prints_its_traceback_and_creates_nothing(suzanne, monkeypatch, capfd):
    from neural_morph.core import job as job_module

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("worker bug")
    monkeypatch.setattr(job_module, "run_fit", broken)
    before = counts()
    job = fit_ops.start_job(bpy.context, props())
    wait_for(lambda: job.poll()[0] != "running")
    assert job.state == "failed"
    assert fit_ops.finish_job(bpy.context, job) == (None, None)
    out = capfd.readouterr().out
    assert "the fit of 'Suzanne' failed" in out
    assert "Traceback (most recent call last)" in out and "ZeroDivisionError: worker bug" in out
    assert counts() == before and fit_ops.active_job() is None

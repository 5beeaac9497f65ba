"""core/: geometry, sampling, losses, flow, fit, persistence. Plain Python: no bpy."""
import threading
import time

import numpy as np
import pytest
import torch

from neural_morph import core
from neural_morph.core import field, losses, metrics, settings, solvers, storage

ELLIPSOID_AXES = np.array([1.0, 0.6, 0.4])
QUICK = dict(iterations=120, points=256, target_samples=20_000, width=64, depth=2,
             warm_start=30, learning_rate=5e-3, resolution=3)


def ellipsoid_points(n=20_000, seed=1):
    """A bumpy ellipsoid: the affine normalisation alone does not turn it into the sphere."""
    verts, faces = core.icosphere(4)
    bumps = 1.0 + 0.15 * np.sin(4 * verts[:, 0]) * np.cos(3 * verts[:, 1])
    return core.sample_surface(verts * bumps[:, None] * ELLIPSOID_AXES, faces, n, seed)


@pytest.fixture(scope="module")
def ellipsoid_fit():
    points = ellipsoid_points()
    return points, core.fit(points, core.FitSettings(**QUICK))


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_icosphere_counts_and_unit_norm(level):
    verts, faces = core.icosphere(level)
    assert (len(verts), len(faces)) == core.icosphere_counts(level) == (10 * 4 ** level + 2, 20 * 4 ** level)
    assert np.allclose(np.linalg.norm(verts, axis=1), 1.0)
    # outward winding: every face normal points away from the centre
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert ((normal * tri.mean(1)).sum(1) > 0).all()
    assert core.count_self_intersections(verts, faces) == 0


def test_icosphere_rejects_bad_level():
    with pytest.raises(ValueError, match="between 0 and"):
        core.icosphere(12)


def test_sampling_is_uniform_by_area():
    # two disjoint triangles with areas 1 and 3
    verts = np.array([[0, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0, 5], [6, 0, 5], [0, 1, 5]], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    n = 100_000
    pts, tri = core.sample_surface(verts, faces, n, rng=0, return_faces=True)
    share = (tri == 1).mean()
    sigma = np.sqrt(0.75 * 0.25 / n)
    assert abs(share - 0.75) < 5 * sigma
    assert np.allclose(pts[tri == 0, 2], 0) and np.allclose(pts[tri == 1, 2], 5)
    # inside each triangle, uniform: the mean is the centroid
    assert np.allclose(pts[tri == 1].mean(0), verts[3:].mean(0), atol=0.03)
    assert (pts[tri == 0, 0] / 2 + pts[tri == 0, 1] <= 1 + 1e-9).all()


def test_sampling_refuses_degenerate_mesh():
    verts = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], float)
    with pytest.raises(ValueError, match="no surface area"):
        core.sample_surface(verts, np.array([[0, 1, 2]]), 10)


def test_chamfer_loss_matches_brute_force_and_has_gradients():
    from scipy.spatial import cKDTree
    rng = np.random.default_rng(3)
    p = torch.tensor(rng.normal(size=(50, 3)), requires_grad=True)
    q = rng.normal(size=(70, 3))
    d = ((p.detach().numpy()[:, None] - q[None]) ** 2).sum(-1)
    brute = d.min(1).mean() + d.min(0).mean()
    qt = torch.as_tensor(q)
    value = losses.chamfer(losses.Batch(p, qt, cKDTree(q), qt, squared=True))
    assert value.item() == pytest.approx(brute, rel=1e-10)
    value.backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    euclid = np.sqrt(d)
    plain = losses.chamfer(losses.Batch(p, qt, cKDTree(q), qt))
    assert plain.item() == pytest.approx(euclid.min(1).mean() + euclid.min(0).mean(), rel=1e-6)


def test_chamfer_with_normals_pulls_only_the_surface_that_faces_a_sample():
    # a thin wall: its top at z=0 faces up, its underside at z=-0.05 faces down. The
    # flowed surface's top (facing up) has dipped to z=-0.04, next to the underside; its
    # bottom (facing down) lies at z=-0.3. An underside sample pulls the bottom, which
    # faces it, not the dipped top that lies nearer (plain Chamfer pulls the top)
    from scipy.spatial import cKDTree
    q = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -0.05]])
    q_normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    p = torch.tensor([[0.0, 0.0, -0.04], [0.0, 0.0, -0.3]], dtype=torch.float64,
                     requires_grad=True)
    p_normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    qt = torch.as_tensor(q)
    under = qt[1:]
    plain = losses.chamfer(losses.Batch(p, qt, cKDTree(q), under))
    facing = losses.chamfer(losses.Batch(p, qt, cKDTree(q), under, point_normals=p_normals,
                                         sample_normals=q_normals[1:]))
    to_target = (0.01 + 0.25) / 2  # each point onto its nearest sample, facing or not
    assert plain.item() == pytest.approx(to_target + 0.01, abs=1e-6)
    assert facing.item() == pytest.approx(to_target + 0.25, abs=1e-6)
    facing.backward()
    assert p.grad[1, 2] < 0  # the bottom is pulled up towards the underside
    # a sample that no flowed surface faces pulls nothing
    lonely = losses.Batch(p, qt, cKDTree(q), under, point_normals=np.array([[0.0, 0, 1], [0, 0, 1]]),
                          sample_normals=q_normals[1:])
    assert losses.chamfer(lonely).item() == pytest.approx(to_target, abs=1e-6)


def test_the_facing_search_finds_the_nearest_facing_of_the_eight_nearest():
    # it asks for eight neighbours only where the nearest one does not face the query; the
    # answer is that of looking through all eight for every query
    from scipy.spatial import cKDTree
    rng = np.random.default_rng(3)
    points, query = rng.normal(size=(400, 3)), rng.normal(size=(300, 3))
    normals, query_normals = rng.normal(size=(400, 3)), rng.normal(size=(300, 3))
    index, found = losses._facing_nearest(cKDTree(points), query, query_normals, normals)
    _, idx = cKDTree(points).query(query, k=losses.FACING_NEIGHBOURS)
    facing = np.einsum("qkd,qd->qk", normals[idx], query_normals) > losses.FACING_MIN
    assert 0 < (~facing[:, 0]).sum() and 0 < (~facing.any(axis=1)).sum()  # every branch taken
    np.testing.assert_array_equal(found, facing.any(axis=1))
    np.testing.assert_array_equal(index, idx[np.arange(len(query)), facing.argmax(axis=1)])


def test_the_cycle_collector_is_off_during_a_fit_and_as_it_was_after():
    import gc
    pts = core.sample_surface(*core.icosphere(3), 2_000, 0)
    quick = core.user_settings(iterations=3, points=64, target_samples=1_000, warm_start=1,
                               resolution=1)
    during = []
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            core.run_fit(pts, quick, progress=lambda i, loss: during.append(gc.isenabled()))
            assert gc.isenabled() == enabled
        finally:
            gc.enable()
    assert during and not any(during)


def test_outside_term_pushes_only_points_beyond_the_target_in_along_their_own_normals():
    # the target: a floor at z=0 facing up, and a cavity wall at x=0 facing +x. A membrane
    # point above the cavity (z=0.3, nearest the wall's sample, beyond its plane by 0.2)
    # faces up: the term pushes it down (into the cavity), not sideways onto the wall as
    # the Chamfer term does. A point under the floor and one within the margin are left.
    from scipy.spatial import cKDTree
    q = np.array([[0.0, 0.0, 0.0], [-0.1, 0.0, 0.3]])
    q_normals = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    p = torch.tensor([[0.1, 0.0, 0.3], [0.0, 0.0, -0.2], [0.0, 0.0, 0.005]],
                     dtype=torch.float64, requires_grad=True)
    p_normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])
    qt = torch.as_tensor(q)
    batch = losses.Batch(p, qt, cKDTree(q), qt, point_normals=p_normals, sample_normals=q_normals,
                         target_normals=q_normals, outside_margin=0.01)
    losses.chamfer(batch)  # finds each point's nearest sample
    losses.outside(batch).backward()
    assert p.grad[0].tolist() == pytest.approx([0.0, 0.0, 1.0 / 3])  # minimising moves it down
    assert p.grad[1:].abs().max().item() == 0.0
    # without the target's normals the term is zero
    assert losses.outside(losses.Batch(p, qt, cKDTree(q), qt)).item() == 0.0
    # a floor with nothing behind it (an open sheet) has two outsides: the point under it,
    # whose surface faces down, is now beyond it on its own side and pushed up onto it
    p.grad = None
    batch.target_backed = np.array([False, True])
    losses.outside(batch).backward()
    assert p.grad[0].tolist() == pytest.approx([0.0, 0.0, 1.0 / 3])
    assert p.grad[1].tolist() == pytest.approx([0.0, 0.0, -1.0 / 3])  # minimising moves it up
    assert p.grad[2].abs().max().item() == 0.0  # within the margin, on either side


def test_beam_term_pulls_a_membrane_edge_up_its_own_ray_to_the_target_it_meets():
    # the target: the underside of a table top at z=0.5, facing down, over a wide area. A
    # membrane's lower edge at z=0 faces down too: it lies beyond the top's tangent plane,
    # and its inward ray (+z) meets the top 0.5 above, so the term pulls it up, capped at
    # BEAM_CAP. A point whose ray meets nothing (facing up, its ray going down into empty
    # space) and a point within the margin are left alone.
    from scipy.spatial import cKDTree
    g = np.linspace(-0.5, 0.5, 51)
    q = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    q = np.concatenate([q, np.full((len(q), 1), 0.5)], axis=1)
    q_normals = np.tile([0.0, 0.0, -1.0], (len(q), 1))
    p = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.1, 0.0], [0.0, 0.2, 0.495]],
                     dtype=torch.float64, requires_grad=True)
    p_normals = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    qt = torch.as_tensor(q)
    batch = losses.Batch(p, qt, cKDTree(q), qt, point_normals=p_normals, sample_normals=q_normals,
                         target_normals=q_normals, outside_margin=0.01)
    losses.chamfer(batch)
    losses.beam(batch).backward()
    # minimising moves the edge up, by the capped pull along its ray (a sample right above)
    assert p.grad[0, 2].item() == pytest.approx(-losses.BEAM_CAP / 3, rel=1e-3)
    assert abs(p.grad[0, 0].item()) < 1e-3 and abs(p.grad[0, 1].item()) < 1e-3
    assert p.grad[1:].abs().max().item() == 0.0
    # the rays themselves: straight up meets the top 0.5 above; straight down meets nothing
    hit_at, index = losses._first_hits(cKDTree(q), np.zeros((2, 3)),
                                       np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]))
    assert 0.5 - losses.BEAM_STEP <= hit_at[0] <= 0.5 and hit_at[1] == -1.0
    assert np.linalg.norm(q[index[0]] - [0.0, 0.0, 0.5]) < losses.BEAM_STEP
    # without the target's normals the term is zero
    assert losses.beam(losses.Batch(p, qt, cKDTree(q), qt)).item() == 0.0


def test_inside_probes_lie_inside_the_target_and_clear_of_a_thin_walls_far_side():
    rng = np.random.default_rng(0)
    # a sphere of radius 0.5 with outward normals: every probe lies inside, at an offset
    d = rng.standard_normal((4000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    probes = losses.inside_probes(0.5 * d, d, None, rng)
    radii = np.linalg.norm(probes, axis=1)
    assert len(probes) == 3 * 4000  # nothing else lies near: every offset of every sample
    assert np.allclose(np.sort(np.unique(np.round(0.5 - radii, 6))), losses.INSIDE_OFFSETS)
    # an open sheet (no sample backed) has no inside
    assert len(losses.inside_probes(0.5 * d, d, np.zeros(4000, dtype=bool), rng)) == 0
    # a wall 0.03 thick (two facing planes): probes deeper than its far side are dropped
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 81), np.linspace(-1, 1, 81)), -1).reshape(-1, 2)
    top = np.concatenate([g, np.full((len(g), 1), 0.015)], axis=1)
    bottom = top * [1, 1, -1]
    wall = np.concatenate([top, bottom])
    normals = np.concatenate([np.tile([0.0, 0.0, 1.0], (len(g), 1)), np.tile([0.0, 0.0, -1.0], (len(g), 1))])
    depth = 0.015 - np.abs(losses.inside_probes(wall, normals, None, rng)[:, 2])
    assert np.allclose(depth, losses.INSIDE_OFFSETS[0])  # only the shallowest fits in the wall


def test_inside_term_pulls_only_probes_that_flow_back_outside_every_sphere():
    start = torch.tensor([[0.5, 0.0, 0.0], [0.0, 1.5, 0.0], [3.2, 0.0, 0.0]],
                         dtype=torch.float64, requires_grad=True)
    points = torch.zeros((1, 3), dtype=torch.float64)
    batch = losses.Batch(points, points, None, points)
    assert losses.inside(batch).item() == 0.0  # no probes: no term
    # two spheres: radius 1 at the origin, radius 0.5 at x = 3 (the third probe is inside it)
    batch.inside_start = start
    batch.spheres = (torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=torch.float64),
                     torch.tensor([1.0, 0.5], dtype=torch.float64))
    value = losses.inside(batch)
    assert value.item() == pytest.approx(0.5 / 3)
    value.backward()
    assert start.grad[1].tolist() == pytest.approx([0.0, 1.0 / 3, 0.0])  # minimising moves it in
    assert start.grad[[0, 2]].abs().max().item() == 0.0


def test_training_flows_the_inside_probes_back_in_the_same_field_calls():
    # the fused state: sphere points forward on the iteration's time nodes, probes back
    # from t = 1 on the mirrored nodes, each row as if integrated on its own
    from neural_morph.core.solvers import integrate
    from neural_morph.core.training import _TrainingDynamics
    torch.manual_seed(3)
    from neural_morph.core.field import VelocityField
    field = VelocityField(16, 1, (4,), 2)
    torch.nn.init.normal_(field.out.weight, std=0.3)  # not the identity flow
    points, probes = torch.rand(5, 3) - 0.5, torch.rand(3, 3) - 0.5
    times = torch.tensor([0.0, 0.37, 1.0])
    for kinetic in (False, True):
        state = torch.cat([points, probes])
        if kinetic:
            state = torch.cat([state, torch.zeros(len(state), 1)], dim=1)
        calls = field.nfe
        path = integrate(_TrainingDynamics(field, 5, kinetic), state, times, "rk4", None)
        assert field.nfe - calls == 8  # 2 RK4 steps, one call per stage for both kinds of row
        alone = integrate(field, points, times, "rk4", None)
        back = integrate(field, probes, 1.0 - times, "rk4", None)
        assert torch.allclose(path[:, :5, :3], alone, atol=1e-6)
        assert torch.allclose(path[-1, 5:, :3], back[-1], atol=1e-6)
        assert not torch.allclose(back[-1], probes, atol=1e-3)


def test_inside_term_leads_the_flow_into_thin_horns():
    # a ball with two thin horns: after a short fit, the probes just inside the horns that
    # the flow carries back outside the sphere (a part the surface has not reached) are
    # far fewer with the inside term than without it
    verts, faces = core.icosphere(4)
    horns = sum(np.exp(-(np.arccos(np.clip(verts[:, axis], -1, 1)) / 0.12) ** 2) for axis in (0, 1))
    verts = verts * (0.5 + horns)[:, None]
    points, face = core.sample_surface(verts, faces, 5000, 1, return_faces=True)
    normals = core.sampling.triangle_normals(verts, faces)[face]
    quick = dict(QUICK, target_samples=5000)
    unreached = []
    for weight in (0.0, 5.0):
        model = core.fit(points, core.FitSettings(**quick, inside_weight=weight), normals=normals)
        probes = losses.inside_probes(model.to_normalized(points), model.normals_to_normalized(normals),
                                      None, np.random.default_rng(0))
        back = model.flow(probes, t0=1.0, t1=0.0)
        unreached.append((np.linalg.norm(back, axis=1) > 1.0).mean())
    assert unreached[1] < 0.5 * unreached[0]


def test_loss_terms_share_one_signature_and_weights():
    names = {weight for _, weight in losses.TERMS}
    assert names == {None, "outside_weight", "beam_weight", "inside_weight", "shape_weight",
                     "kinetic_weight", "jacobian_weight"}
    assert all(hasattr(core.FitSettings(), w) for w in names - {None})


def test_self_intersections_of_crossing_touching_and_apart_triangles():
    a = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    crossing = [[0.2, 0.2, -1], [0.3, 0.2, 1], [0.2, 0.3, 1]]
    apart = [[5, 5, 5], [6, 5, 5], [5, 6, 5]]
    touching = [[1, 0, 0], [2, 0, 1], [2, 1, 1]]  # shares a corner position only
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    assert core.count_self_intersections(np.array(a + crossing, float), faces) == 2
    assert core.count_self_intersections(np.array(a + apart, float), faces) == 0
    assert core.count_self_intersections(np.array(a + touching, float), faces) == 0


def test_untrained_flow_is_identity():
    f = field.VelocityField(32, 2)
    x = torch.randn(100, 3)
    y = solvers.integrate(f, x, torch.tensor([0.0, 1.0]))[-1]
    assert torch.allclose(x, y)


def test_fit_reaches_low_chamfer_on_ellipsoid(ellipsoid_fit):
    points, model = ellipsoid_fit
    verts, faces = model.surface(4)
    unit_target = model.to_normalized(points)
    fitted = metrics.mesh_chamfer(model.to_normalized(verts), faces, unit_target)
    sphere_v, sphere_f = core.icosphere(4)
    untrained = metrics.mesh_chamfer(sphere_v, sphere_f, unit_target)
    # The untrained flow (the unit sphere) is ~1e-2 away. A fitted flow must be within
    # 1e-3, i.e. an RMS error of about 2% of the radius, and 10x better than the sphere.
    assert fitted < 1e-3
    assert fitted < untrained / 10
    assert len(model.history) == QUICK["iterations"]
    assert core.count_self_intersections(verts, faces) == 0


def test_inverse_of_surface_returns_sphere(ellipsoid_fit):
    _, model = ellipsoid_fit
    verts = model.to_target(model.flow(model.sphere(3)[0]))  # φ(sphere): before the snap
    back = model.inverse(verts)
    sphere, _ = core.icosphere(3)
    assert np.abs(model.to_normalized(back) - sphere).max() < 1e-3


def test_trajectory_ends_match_sphere_and_surface(ellipsoid_fit):
    _, model = ellipsoid_fit
    states, faces = model.trajectory(2, np.linspace(0, 1, 5), normalized=True)
    sphere, _ = core.icosphere(2)
    surface, _ = model.surface(2, normalized=True)
    assert states.shape == (5, len(sphere), 3)
    assert np.allclose(states[0], sphere)
    assert np.abs(states[-1] - surface).max() < 1e-4


@pytest.mark.slow
def test_same_seed_gives_identical_result():
    points = ellipsoid_points(5_000)
    settings = core.FitSettings(**{**QUICK, "iterations": 15, "warm_start": 5})
    a = core.fit(points, settings).surface(2)[0]
    b = core.fit(points, settings).surface(2)[0]
    other = core.FitSettings(**{**QUICK, "iterations": 15, "warm_start": 5, "seed": 1})
    c = core.fit(points, other).surface(2)[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_refuses_bad_points_and_settings():
    with pytest.raises(ValueError, match="NaN or infinite"):
        core.fit(np.vstack([np.eye(3)] * 5 + [[np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="zero size"):
        core.fit(np.zeros((20, 3)))
    with pytest.raises(ValueError, match="at least 16 points"):  # fewer gave an IndexError
        core.fit(np.random.default_rng(0).standard_normal((8, 3)))
    with pytest.raises(ValueError, match="Seed must be a whole number"):
        core.user_settings(seed=-1)
    with pytest.raises(ValueError, match="Resolution"):
        core.FitSettings(resolution=12).validate()
    with pytest.raises(ValueError, match="Regulariser weights must not be negative"):
        core.user_settings(outside_weight=-0.5)  # would push the surface out of the target
    for bad in (-1.0, float("inf"), float("nan")):  # away from the walls; a diverging fit
        with pytest.raises(ValueError, match="Gap Pull must be a number of at least 0"):
            core.user_settings(beam_weight=bad)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="Inside Pull must be a number of at least 0"):
            core.user_settings(inside_weight=bad)
    with pytest.raises(ValueError, match="outside margin must not be negative"):
        core.user_settings(outside_margin=-0.01)


def test_model_round_trips_through_plain_json(ellipsoid_fit):
    _, model = ellipsoid_fit
    text = storage.to_json(model)
    assert "pickle" not in text
    again = storage.from_json(text)
    assert np.abs(again.surface(3)[0] - model.surface(3)[0]).max() < 1e-6


def test_model_from_other_version_fails_with_both_versions(ellipsoid_fit):
    data = storage.to_dict(ellipsoid_fit[1])
    data["format"] = 99
    data["written_by"] = "9.9.9"
    with pytest.raises(ValueError, match=f"Neural Morph 9.9.9 .*version 99.*Neural Morph "
                                         f"{core.ADDON_VERSION}.*version {core.FORMAT_VERSION}"):
        storage.from_dict(data)
    data["format"] = core.FORMAT_VERSION
    data["weights"]["out.weight"] = "AAAA"
    with pytest.raises(ValueError, match="damaged"):
        storage.from_dict(data)
    with pytest.raises(ValueError, match="damaged"):
        storage.from_json("{not json")


def test_fit_job_reports_progress_and_cancels_quickly():
    points = ellipsoid_points(5_000)
    job = core.FitJob(points, core.FitSettings(**{**QUICK, "iterations": 5_000})).start()
    deadline = time.time() + 60
    while job.iteration < 3 and time.time() < deadline:
        time.sleep(0.05)
    state, iteration, loss = job.poll()
    assert state == "running" and iteration >= 3 and np.isfinite(loss)
    t0 = time.perf_counter()
    job.cancel(wait=True)
    assert time.perf_counter() - t0 < 1.0
    assert job.poll()[0] == "cancelled" and job.result() is None


def test_fit_job_surfaces_worker_errors():
    job = core.FitJob(np.zeros((20, 3)), core.FitSettings(**QUICK)).start()
    assert job.wait(30) == "failed"
    with pytest.raises(ValueError, match="zero size"):
        job.result()
    assert job.traceback.startswith("Traceback") and "zero size" in job.traceback
    assert threading.active_count() >= 1


def test_addon_version_matches_manifest():
    import pathlib
    import tomllib
    root = pathlib.Path(core.__file__).parent.parent
    manifest = tomllib.loads((root / "blender_manifest.toml").read_text())
    assert manifest["version"] == core.ADDON_VERSION


def test_user_settings_derive_warm_start():
    s = core.user_settings(iterations=30)
    assert s.warm_start == 30 // settings.WARM_START_SHARE
    assert core.user_settings().warm_start == core.FitSettings.warm_start
    assert core.user_settings(grid_sizes=[4, 8]).grid_sizes == (4, 8)
    with pytest.raises(ValueError, match="Unknown fit setting"):
        core.user_settings(iteration=3)
    with pytest.raises(ValueError, match="Iterations must be between"):
        core.user_settings(iterations=0)


def test_fit_points_path_accepts_what_the_operator_accepts():
    points = ellipsoid_points(5_000)
    model = core.fit(points, core.user_settings(iterations=30, points=64, width=16, depth=1,
                                                target_samples=5_000, resolution=1))
    assert model.iterations == 30


@pytest.mark.parametrize("method", sorted(settings.SOLVERS))
def test_every_solver_in_the_table_integrates(method):
    f = field.VelocityField(8, 1)
    torch.nn.init.normal_(f.out.weight, std=0.1)
    x = torch.randn(20, 3)
    y = solvers.integrate(f, x, torch.tensor([0.0, 1.0]), method, steps=3)[-1]
    assert torch.isfinite(y).all()
    if settings.SOLVERS[method] == "fixed":
        f.nfe = 0
        solvers.integrate(f, x, torch.tensor([0.0, 1.0]), method, steps=1)
        one = f.nfe
        f.nfe = 0
        solvers.integrate(f, x, torch.tensor([0.0, 1.0]), method, steps=4)
        assert f.nfe > one, "fixed-grid solvers must honour steps"


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="Solver method must be one of"):
        core.FitSettings(method="scipy_solver").validate()


def test_matrix_maps_normalised_space_to_target(ellipsoid_fit):
    _, model = ellipsoid_fit
    u = np.random.default_rng(0).normal(size=(10, 3))
    m = model.matrix()
    assert m.shape == (4, 4)
    assert np.allclose(u @ m[:3, :3].T + m[:3, 3], model.to_target(u))


def test_sphere_uvs_one_per_corner():
    uv = core.sphere_uvs(2)
    assert uv.shape == (core.icosphere_counts(2)[1] * 3, 2) and uv.dtype == np.float32


def test_continued_fit_keeps_the_normalisation_it_started_with():
    """The continued flow keeps the first fit's matrix, so its stored settings must name
    that normalisation, whatever the continuing call's settings say."""
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((2000, 3)) * np.array([2.0, 1.0, 0.5])
    first = core.fit(pts, core.user_settings(iterations=3, points=64, resolution=1,
                                             normalization="similarity"))
    more = core.fit(pts, core.user_settings(iterations=2, points=64, resolution=1), init=first)
    assert more.settings.normalization == "similarity"
    assert np.allclose(more.matrix(), first.matrix())


def test_roughness_is_zero_on_a_plane_small_on_a_sphere_and_grows_with_crumples():
    # bench.smoothness measures every frame of an animation with it (issue 16, item 5)
    square = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]])
    assert metrics.roughness(square, np.array([[0, 1, 2], [1, 3, 2]])) == 0.0
    folded = square.copy()
    folded[3, 2] = 1.0  # the second triangle turned up by atan(√2) about the shared edge
    assert metrics.roughness(folded, np.array([[0, 1, 2], [1, 3, 2]])) == pytest.approx(
        1 - np.cos(np.arctan(np.sqrt(2))), abs=1e-9)
    verts, faces = core.icosphere(5)
    smooth = metrics.roughness(verts, faces)
    assert smooth == pytest.approx(metrics.roughness(5.0 * verts + 2.0, faces))  # scale-free
    crumpled = verts + 0.003 * np.random.default_rng(0).standard_normal(verts.shape)
    assert 0 < smooth < metrics.roughness(crumpled, faces) / 10

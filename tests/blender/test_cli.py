"""`blender -c neural_morph fit ...`: the registered command-line handler, in the real bpy.

The bpy module has no command line of its own, so these tests call the handler that
register() registered with an argument list, on small meshes written by Blender's exporters.
"""
import json
import subprocess
import sys
import textwrap

import bpy
import pytest

from conftest import ROOT
from neural_morph import core
from neural_morph.blender import cli
from neural_morph.blender.data import FLOW_KEY

TINY = ["--iterations", "20", "--points", "128", "--resolution", "2"]


def _export(folder, name, add, exporter, **options):
    bpy.ops.wm.read_homefile(use_empty=True)
    add()
    path = folder / name
    exporter(filepath=str(path), **options)
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """monkey.obj, cube.stl, torus.ply, ball.glb, scene.blend (object 'Cone'), broken files."""
    d = tmp_path_factory.mktemp("assets")
    ops = bpy.ops
    files = {
        "obj": _export(d, "monkey.obj", ops.mesh.primitive_monkey_add, ops.wm.obj_export,
                       export_materials=False),
        "stl": _export(d, "cube.stl", ops.mesh.primitive_cube_add, ops.wm.stl_export),
        "ply": _export(d, "torus.ply", ops.mesh.primitive_torus_add, ops.wm.ply_export),
        "glb": _export(d, "ball.glb", ops.mesh.primitive_ico_sphere_add, ops.export_scene.gltf,
                       export_format='GLB'),
    }
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.mesh.primitive_cone_add()
    bpy.ops.mesh.primitive_cube_add(location=(4, 0, 0))  # another object, not asked for
    files["blend"] = d / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(files["blend"]), copy=True)
    files["bad_ply"] = d / "broken.ply"
    files["bad_ply"].write_text("not a ply file\n")
    files["points"] = d / "points.obj"
    files["points"].write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    bpy.ops.wm.read_homefile(use_empty=True)
    return files


def run(*args):
    return cli.main([str(a) for a in args])


def report_of(out):
    return {e["input"]: e for e in json.loads((out / "report.json").read_text())["assets"]}


def test_help_lists_every_option_with_the_operators_default(capsys):
    assert run("fit", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    rna = bpy.ops.neural_morph.fit.get_rna_type().properties
    defaults = core.FitSettings()
    for name in core.settings.USER_SETTINGS:
        assert f"--{name.replace('_', '-')}" in text
        assert f"(default: {getattr(defaults, name)})" in text
        assert rna[name].default == pytest.approx(getattr(defaults, name))  # the same home
    assert "--normalization {affine,similarity}" in text
    for option in ("--output", "--export", "--force", "--preset"):
        assert option in text
    assert run("--help") == 0
    assert run("frobnicate") == 2


def test_batch_fits_exports_reports_and_skips_bad_input(assets, tmp_path, capsys):
    out = tmp_path / "out"
    missing = tmp_path / "missing.obj"
    inputs = [assets["obj"], assets["stl"], assets["bad_ply"], f"{assets['blend']}:Cone",
              assets["points"], missing, f"{assets['blend']}:Nope"]
    assert run("fit", *inputs, "--output", out, "--export", "obj", *TINY) == 1
    text = capsys.readouterr().out
    assert "Neural Morph: iteration 20/20" in text              # progress per iteration block
    assert "[1/7]" in text and "[7/7]" in text                  # and per asset
    assert "FAILED" in text and "3 of 7 done, 4 failed" in text  # the summary
    report = report_of(out)
    done = {str(assets["obj"]): "monkey", str(assets["stl"]): "cube",
            f"{assets['blend']}:Cone": "scene_Cone"}
    for spec, name in done.items():
        entry = report[spec]
        assert entry["status"] == "fitted", entry
        figures = entry["figures"]
        assert figures["iterations"] == 20 and figures["seed"] == 0
        assert figures["resolution"] >= 2 and figures["self_intersections"] == 0
        assert set(figures) >= {"source", "seconds", "chamfer", "vertices"}
        assert (out / f"{name}.blend").is_file() and (out / f"{name}.obj").is_file()
    messages = {spec: e.get("message", "") for spec, e in report.items()}
    assert "Invalid PLY header" in messages[str(assets["bad_ply"])]
    assert "no faces" in messages[str(assets["points"])]
    assert "no such file" in messages[str(missing)]
    assert "no object named 'Nope'" in messages[f"{assets['blend']}:Nope"]
    # Failed inputs leave nothing behind, and nothing is half written.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.json"] + [f"{n}.{s}" for n in done.values() for s in ("blend", "obj")])
    # The .blend holds the target and the morph with its flow and figures.
    bpy.ops.wm.open_mainfile(filepath=str(out / "monkey.blend"))
    morph = bpy.data.objects["Suzanne Morph"]
    assert FLOW_KEY in morph.keys() and "Suzanne" in bpy.data.objects
    assert morph["neural_morph_chamfer"] == report[str(assets["obj"])]["figures"]["chamfer"]
    bpy.ops.wm.open_mainfile(filepath=str(out / "scene_Cone.blend"))
    assert set(bpy.data.objects.keys()) == {"Cone", "Cone Morph"}
    exported = (out / "monkey.obj").read_text()
    assert "\nvt " in exported and "\nf " in exported  # UVs exported

    # A rerun skips what is complete (without refitting) and keeps the figures.
    before = (out / "monkey.blend").stat().st_mtime_ns
    assert run("fit", assets["obj"], "--output", out, "--export", "obj", *TINY) == 0
    assert (out / "monkey.blend").stat().st_mtime_ns == before
    entry = report_of(out)[str(assets["obj"])]
    assert entry["status"] == "skipped" and entry["figures"]["iterations"] == 20
    assert "skipped" in capsys.readouterr().out
    # An output without its export is not complete; --force refits.
    (out / "cube.obj").unlink()
    assert run("fit", assets["stl"], "--output", out, "--export", "obj", *TINY) == 0
    assert report_of(out)[str(assets["stl"])]["status"] == "fitted"
    assert run("fit", assets["obj"], "--output", out, "--export", "obj", "--force", *TINY) == 0
    assert (out / "monkey.blend").stat().st_mtime_ns != before


def test_ply_and_gltf_inputs_and_gltf_export_with_uvs(assets, tmp_path):
    out = tmp_path / "out"
    assert run("fit", assets["ply"], assets["glb"], "-o", out, "--export", "gltf", *TINY) == 0
    assert {p.name for p in out.iterdir()} == {
        "report.json", "torus.blend", "torus.glb", "ball.blend", "ball.glb"}
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(out / "torus.glb"))
    meshes = [o for o in bpy.data.objects if o.type == 'MESH']
    assert len(meshes) == 1 and len(meshes[0].data.uv_layers) == 1


def test_preset_and_explicit_options(assets, tmp_path):
    from neural_morph.core import presets
    args = cli.build_parser().parse_args(["fit", "x.obj", "-o", "o", "--preset", "Draft", "--seed", "3"])
    settings = cli.settings_of(args)
    draft = presets.preset("Draft")
    assert {k: settings[k] for k in draft} == draft and settings["seed"] == 3
    args = cli.build_parser().parse_args(["fit", "x.obj", "-o", "o", "--preset", "Draft", "--iterations", "7"])
    assert cli.settings_of(args)["iterations"] == 7


def test_bad_settings_or_no_input_leave_no_output(assets, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("fit", assets["obj"], "-o", out, "--iterations", "0") == 2
    assert "Iterations must be between" in capsys.readouterr().out
    assert run("fit", tmp_path / "nope.obj", "-o", out) == 1
    assert "no such file" in capsys.readouterr().out
    assert run("fit", assets["obj"]) == 2  # --output is required
    assert not out.exists()


REGISTRATION = """
import ctypes, sys
sys.path.insert(0, {tests!r})
import bpy, conftest

def probe():
    # Blender prints a warning when an id is registered twice: that is how to ask whether
    # `neural_morph` is registered (the Python API has no listing of CLI commands).
    handle = bpy.utils.register_cli_command("neural_morph", lambda argv: 0)
    ctypes.CDLL(None).fflush(None)  # Blender's warning goes through C stdio
    bpy.utils.unregister_cli_command(handle)
    print("PROBED", flush=True)

conftest.addon.register()
try:
    from neural_morph.blender import cli
    handle = cli._handle
    print("HANDLE", handle is not None, flush=True)
    probe()
finally:
    conftest.addon.unregister()
print("UNREGISTERED", cli._handle is None, flush=True)
try:
    bpy.utils.unregister_cli_command(handle)
    print("STILL THERE", flush=True)
except ValueError as exc:
    print("REMOVED", exc, flush=True)
probe()
"""


def test_register_adds_the_command_and_unregister_removes_it(tmp_path):
    script = tmp_path / "registration.py"
    script.write_text(REGISTRATION.format(tests=str(ROOT / "tests" / "blender")))
    proc = subprocess.run([sys.executable, "-u", str(script)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, cwd=str(ROOT))
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    registered, after = out.split("UNREGISTERED")
    assert "HANDLE True" in registered
    assert 'duplicate command "neural_morph"' in registered  # ours was there
    assert "True" in after.splitlines()[0] and "REMOVED" in after
    assert "duplicate" not in after                          # and is gone

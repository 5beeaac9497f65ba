"""`blender -c neural_morph fit ...`: the registered command-line handler, in the real bpy.

The bpy module has no command line of its own, so these tests call the handler that
register() registered with an argument list, on small meshes written by Blender's exporters.
"""
import json
import os
import pathlib
import subprocess
import sys

import bpy
import pytest

from conftest import ROOT
from neural_morph import commandline, core
from neural_morph.blender import cli
from neural_morph.blender.store import FLOW_KEY

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


@pytest.mark.slow
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


def test_bad_settings_or_no_input_leave_no_output(assets, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("fit", assets["obj"], "-o", out, "--iterations", "0") == 2
    assert "Iterations must be between" in capsys.readouterr().out
    assert run("fit", tmp_path / "nope.obj", "-o", out) == 1
    assert "no such file" in capsys.readouterr().out
    assert run("fit", assets["obj"]) == 2  # --output is required
    assert not out.exists()


# REGISTRATION and COMMAND_SCRIPT run with `python -c` in the repository root (the root is
# first on sys.path there): each must end a Blender process of its own.
REGISTRATION = """
import ctypes
import bpy
from tests.blender import conftest

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


@pytest.mark.slow
def test_register_adds_the_command_and_unregister_removes_it(tmp_path):
    proc = subprocess.run([sys.executable, "-u", "-c", REGISTRATION], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, cwd=str(ROOT))
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    registered, after = out.split("UNREGISTERED")
    assert "HANDLE True" in registered
    assert 'duplicate command "neural_morph"' in registered  # ours was there
    assert "True" in after.splitlines()[0] and "REMOVED" in after
    assert "duplicate" not in after                          # and is gone


# -- issue 17: never over an input, a checked output folder, honest reruns, odd names ----------
def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_an_output_that_is_an_input_is_refused_before_any_fit(assets, tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    good, ball = folder / "good.obj", folder / "ball.glb"
    good.write_bytes(assets["obj"].read_bytes())
    ball.write_bytes(assets["glb"].read_bytes())
    mine = folder / "report.json"
    for inputs, export in (([good], "obj"), ([assets["stl"], ball], "gltf"),
                           ([assets["stl"], mine], None)):
        mine.write_text('{"my": "own file"}\n')
        before = {p: p.read_bytes() for p in (good, ball, mine)}
        options = ["--export", export] if export else []
        assert run("fit", *inputs, "--output", folder, *options, *TINY) == 2
        text = capsys.readouterr().out
        clash = folder / (f"{pathlib.Path(inputs[-1]).stem}{commandline.EXPORT_SUFFIX[export]}"
                          if export else "report.json")
        assert f"{clash} would write over the input {inputs[-1]}" in text
        assert "choose another --output folder" in text and "fitting" not in text
        assert {p: p.read_bytes() for p in before} == before      # every input intact
        assert _tree(folder) == ["ball.glb", "good.obj", "report.json"]  # nothing written


def _unwritable(tmp_path):
    """A folder this process cannot create files in (root writes anywhere but in /proc)."""
    if os.geteuid() == 0:
        return pathlib.Path("/proc")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_an_unusable_output_folder_is_refused_before_any_fit(assets, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    locked = _unwritable(tmp_path)
    cases = [(a_file, f"--output {a_file} is a file, not a folder; give a folder for the results."),
             (a_file / "sub", f"cannot create the output folder {a_file / 'sub'} ("),
             (locked / "sub", f"cannot create the output folder {locked / 'sub'} ("),
             (locked, f"cannot write in the output folder {locked} (")]
    for out, message in cases:
        assert run("fit", assets["obj"], assets["stl"], "--output", out, *TINY) == 2
        text = capsys.readouterr().out
        assert message in text
        assert "fitting" not in text and "Traceback" not in text
    assert a_file.read_text() == "mine\n"


def test_a_write_failure_fails_that_asset_only_and_a_lost_report_is_said(assets, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "monkey.blend").mkdir(parents=True)  # in the way of monkey's .blend
    (out / "monkey.blend" / "keep").write_text("x")
    (out / "report.json").mkdir()               # and of the report
    (out / "report.json" / "keep").write_text("x")
    assert run("fit", assets["obj"], assets["stl"], "--output", out, "--export", "obj", *TINY) == 1
    text = capsys.readouterr().out
    assert f"FAILED: {assets['obj']}: cannot write {out / 'monkey.blend'} (" in text
    assert "nothing of this asset was kept" in text
    assert text.count(f"cannot write {out / 'report.json'} (") == 1
    assert "[2/2]" in text and "1 of 2 done, 1 failed; report.json NOT written" in text
    assert "Traceback" not in text
    assert (out / "cube.blend").is_file() and (out / "cube.obj").is_file()  # the batch went on
    assert _tree(out) == ["cube.blend", "cube.obj", "monkey.blend", "monkey.blend/keep",
                          "report.json", "report.json/keep"]  # no monkey.obj, no .part


def _stored_settings(blend):
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    morph = next(o for o in bpy.data.objects if FLOW_KEY in o.keys())
    return json.loads(morph[FLOW_KEY])["settings"]


@pytest.mark.slow
def test_a_rerun_skips_only_the_same_fit_and_the_report_keeps_earlier_assets(assets, tmp_path, capsys):
    out = tmp_path / "out"
    rock = tmp_path / "rock.obj"
    rock.write_bytes(assets["obj"].read_bytes())
    assert run("fit", rock, assets["stl"], "--output", out, *TINY) == 0
    capsys.readouterr()
    # Fewer inputs: cube's entry stays, with its files.
    assert run("fit", rock, "--output", out, *TINY) == 0
    assert "skipped" in capsys.readouterr().out
    report = report_of(out)
    assert report[str(rock)]["status"] == "skipped"
    assert report[str(assets["stl"])]["outputs"] == [str(out / "cube.blend")]
    # Other settings: refitted, and the report shows what the files hold.
    before = (out / "rock.blend").stat().st_mtime_ns
    assert run("fit", rock, "--output", out, *TINY, "--seed", "5") == 0
    text = capsys.readouterr().out
    assert f"{out / 'rock.blend'} was fitted with other settings or from another input; refitting" in text
    entry = report_of(out)[str(rock)]
    assert entry["status"] == "fitted" and entry["settings"]["seed"] == 5
    assert entry["figures"]["seed"] == 5 and _stored_settings(out / "rock.blend")["seed"] == 5
    assert (out / "rock.blend").stat().st_mtime_ns != before
    assert str(assets["stl"]) in report_of(out)                  # still there
    # The same settings again: skipped; a changed input: refitted.
    assert run("fit", rock, "--output", out, *TINY, "--seed", "5") == 0
    assert report_of(out)[str(rock)]["status"] == "skipped"
    rock.unlink()
    rock = rock.with_suffix(".stl")  # another mesh under the same output name
    rock.write_bytes(assets["stl"].read_bytes())
    assert run("fit", rock, "--output", out, *TINY, "--seed", "5") == 0
    assert "refitting" in capsys.readouterr().out
    assert report_of(out)[str(rock)]["status"] == "fitted"


@pytest.mark.slow
def test_odd_object_names_and_leftovers(tmp_path, capsys):
    long_name = "L" * 63
    bpy.ops.wm.read_homefile(use_empty=True)
    for name in ("Rock/LOD0", "Rock:A", long_name):
        bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=2)
        bpy.context.active_object.name = name
    assert long_name in bpy.data.objects
    blend = tmp_path / "odd.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    out = tmp_path / "out"
    out.mkdir()
    for stale in ("odd_Rock_A.blend.part", "odd_Rock_A.obj.part", "report.json.part",
                  "gone.blend.part", "gone.blend.part@"):
        (out / stale).write_text("left by a killed run\n")
    specs = [f"{blend}:{n}" for n in ("Rock/LOD0", "Rock:A", long_name, "Nope")]
    assert run("fit", *specs, "--output", out, "--export", "obj", *TINY) == 1
    text = capsys.readouterr().out
    assert "3 of 4 done, 1 failed" in text and "Traceback" not in text
    names = ["odd_Rock_LOD0", "odd_Rock_A", f"odd_{long_name}"]
    assert _tree(out) == sorted(["report.json"] + [f"{n}.{s}" for n in names for s in ("blend", "obj")])
    report = report_of(out)
    assert "outputs" not in report[specs[-1]] and report[specs[-1]]["status"] == "failed"
    for spec, name in zip(specs, names):
        assert report[spec]["outputs"] == [str(out / f"{name}.obj"), str(out / f"{name}.blend")]
    bpy.ops.wm.open_mainfile(filepath=str(out / "odd_Rock_A.blend"))
    assert "Rock:A Morph" in bpy.data.objects
    bpy.ops.wm.open_mainfile(filepath=str(out / f"odd_{long_name}.blend"))
    morph = next(o for o in bpy.data.objects if FLOW_KEY in o.keys())
    assert morph.name == "L" * 57 + " Morph"                     # 63 bytes, still a morph
    assert json.loads(morph["_neural_morph_sources"]) == [long_name]


COMMAND_SCRIPT = """
import os
import bpy
from tests.blender import conftest

bpy.ops.wm.read_homefile(use_empty=True)
bpy.ops.mesh.primitive_ico_sphere_add()
bpy.ops.wm.obj_export(filepath={mesh!r}, export_materials=False)
registered = []
register = bpy.utils.register_cli_command
bpy.utils.register_cli_command = lambda name, f: registered.append((name, f)) or register(name, f)
conftest.addon.register()
(name, handler), = registered
print("COMMAND", name, "TEMP", bpy.app.tempdir, os.path.isdir(bpy.app.tempdir), flush=True)
handler(["fit", {mesh!r}, "--output", {out!r}, "--export", "gltf", *{tiny!r}])
print("RETURNED", flush=True)  # Blender would now exit the usual way, and hang in its teardown
"""


@pytest.mark.slow
def test_the_command_ends_its_process_after_a_gltf_export(tmp_path):
    out = tmp_path / "out"
    script = COMMAND_SCRIPT.format(mesh=str(tmp_path / "ball.obj"), out=str(out), tiny=TINY)
    proc = subprocess.run([sys.executable, "-u", "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, cwd=str(ROOT))
    text = proc.stdout
    assert proc.returncode == 0, text[-3000:]
    assert "COMMAND neural_morph" in text and "1 of 1 done, 0 failed" in text
    assert "RETURNED" not in text
    # Blender's own output is flushed before the process ends (4.5 and 5.0 print this line;
    # 4.2 prints none for a saved copy)
    assert 'Saved copy as "ball.blend.part"' in text or bpy.app.version < (4, 5, 0)
    temp = text.split("TEMP ", 1)[1].split()
    assert temp[1] == "True" and not os.path.exists(temp[0])  # Blender's session folder removed
    assert _tree(out) == ["ball.blend", "ball.glb", "report.json"]


def test_a_long_morph_name_keeps_morph_when_blender_adds_a_number():
    from neural_morph.blender import scene
    bpy.ops.wm.read_homefile(use_empty=True)
    assert scene.morph_name("Rock") == "Rock Morph"
    assert scene.morph_name("é" * 40) == "é" * 28 + " Morph"  # 56 + 6 bytes: cut at a character
    taken = bpy.data.objects.new(scene.morph_name("L" * 63), None)
    assert taken.name == "L" * 57 + " Morph"
    again = bpy.data.objects.new(scene.morph_name("L" * 63), None)
    assert again.name == "L" * 53 + " Morph" and again.name.endswith("Morph")
    third = bpy.data.objects.new(scene.morph_name("L" * 63), None)
    assert third.name == "L" * 53 + " Morph.001"               # Blender's number, Morph kept


# -- onto: one mesh morphed onto another's shape ----------------------------------------------
ONTO_TINY = ["--iterations", "20", "--points", "128", "--keys", "2"]


@pytest.mark.slow
def test_onto_writes_the_result_with_the_sources_mesh_and_shape_keys(assets, tmp_path, capsys):
    out = tmp_path / "out"
    cone = f"{assets['blend']}:Cone"
    assert run("onto", cone, assets["obj"], "-o", out, "--export", "obj", *ONTO_TINY) == 0
    text = capsys.readouterr().out
    assert "Neural Morph: iteration 20/20" in text and "Traceback" not in text
    assert "1 of 1 done, 0 failed" in text
    name = "scene_Cone_onto_monkey"
    assert _tree(out) == sorted(["report.json", f"{name}.blend", f"{name}.obj"])
    entry = report_of(out)[f"{cone} onto {assets['obj']}"]
    assert entry["status"] == "fitted" and entry["name"] == name
    assert (entry["source"], entry["target"]) == (cone, str(assets["obj"]))
    assert entry["outputs"] == [str(out / f"{name}.obj"), str(out / f"{name}.blend")]
    assert entry["figures"]["iterations"] == 20 and entry["figures"]["morphed_mesh"] == "Cone"
    assert entry["settings"]["points"] == 128 and entry["keys"] == 2
    bpy.ops.wm.open_mainfile(filepath=str(out / f"{name}.blend"))
    source, result = bpy.data.objects["Cone"], bpy.data.objects["Cone Onto Suzanne"]
    assert "Suzanne" in bpy.data.objects and FLOW_KEY in result.keys()
    assert len(result.data.polygons) == len(source.data.polygons)
    assert source.data.shape_keys is None                      # the source is untouched
    blocks = result.data.shape_keys.key_blocks
    assert len(blocks) >= 2 and blocks[0].name == "Basis"


def test_onto_bad_input_says_why_and_writes_nothing(assets, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("onto", tmp_path / "nope.obj", assets["obj"], "-o", out) == 1
    assert f"{tmp_path / 'nope.obj'}: no such file." in capsys.readouterr().out
    cone = f"{assets['blend']}:Cone"
    assert run("onto", cone, cone, "-o", out) == 2
    assert ("The source and the target are the same object: choose another mesh to morph "
            "onto it.") in capsys.readouterr().out
    assert run("onto", assets["obj"], assets["stl"], "-o", out, "--frame-end", "0") == 2
    assert "--frame-end must come after --frame-start." in capsys.readouterr().out
    assert not out.exists()                                    # refused before any work
    assert run("onto", assets["points"], assets["obj"], "-o", out, *ONTO_TINY) == 1
    text = capsys.readouterr().out
    assert f"FAILED: {assets['points']}" in text and "no faces" in text
    assert "0 of 1 done, 1 failed" in text and "Traceback" not in text
    assert _tree(out) == ["report.json"]                       # nothing half-written
    assert report_of(out)[f"{assets['points']} onto {assets['obj']}"]["status"] == "failed"

"""The command line's bpy-free half (commandline.py), in plain Python: parsing, inputs,
output names, the output folder's checks, reruns, the summary table and report.json.
tests/blender/test_cli.py runs the whole command inside Blender."""
import json
import pathlib

import pytest

from neural_morph import commandline as cl
from neural_morph import core
from neural_morph.core import presets


def parse(*argv):
    return cl.build_parser().parse_args([str(a) for a in argv])


def test_fit_options_come_from_core_settings(capsys):
    defaults = core.FitSettings()
    assert [o[0] for o in cl.fit_options()] == list(core.settings.USER_SETTINGS)
    with pytest.raises(SystemExit) as exc:
        parse("fit", "--help")
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in core.settings.USER_SETTINGS:
        assert f"--{name.replace('_', '-')}" in text
        assert f"(default: {getattr(defaults, name)})" in text
    assert "--normalization {affine,similarity}" in text
    for option in ("--output", "--export {gltf,obj}", "--force", "--preset"):
        assert option in text
    for suffix in cl.IMPORTERS:
        assert suffix in text


def test_preset_then_explicit_options():
    args = parse("fit", "x.obj", "-o", "o", "--preset", "Draft", "--seed", "3")
    settings = cl.settings_of(args)
    draft = presets.preset("Draft")
    assert {k: settings[k] for k in draft} == draft and settings["seed"] == 3
    assert cl.settings_of(parse("fit", "x.obj", "-o", "o", "--preset", "Draft",
                                "--iterations", "7"))["iterations"] == 7
    plain = cl.settings_of(parse("fit", "x.obj", "-o", "o"))
    assert plain == {name: default for name, _, default, _ in cl.fit_options()}
    core.user_settings(**plain)  # what the batch checks before any asset


def test_usage_errors_exit_with_2(capsys):
    for argv in (["fit", "x.obj"], ["fit", "-o", "o"], ["fit", "x.obj", "-o", "o", "--export", "fbx"],
                 ["fit", "x.obj", "-o", "o", "--iterations", "many"], ["frobnicate"]):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2, argv
    capsys.readouterr()
    assert parse().command is None  # no command: the batch prints the help


def test_spec_split_and_safe_names(tmp_path):
    assert cl.split_spec("a.blend:Rock:A") == ("a.blend", "Rock:A")
    assert cl.split_spec("C:\\scenes\\a.BLEND:Rock") == ("C:\\scenes\\a.BLEND", "Rock")
    assert cl.split_spec("a.blend:x.blend:y") == ("a.blend", "x.blend:y")
    assert cl.split_spec("rock.obj") == ("rock.obj", None)
    assert cl.split_spec("a.blend:") == ("a.blend:", None)
    odd = tmp_path / "a.blend:x.blend"  # a file whose name holds the separator wins
    odd.write_text("")
    assert cl.split_spec(f"{odd}:y") == (str(odd), "y")
    assert cl.safe_name("Rock/LOD0") == "Rock_LOD0"
    assert cl.safe_name('a\\b:c*d?e"f<g>h|i\x01') == "a_b_c_d_e_f_g_h_i_"
    assert cl.safe_name("..") == "_" and cl.safe_name("CON") == "_CON"
    assert cl.safe_name("com1.obj") == "_com1.obj" and cl.safe_name("COM10") == "COM10"
    assert len(cl.safe_name("é" * 300).encode()) <= cl.MAX_NAME_BYTES


def test_expand_wildcards_in_order_without_repeats(tmp_path):
    for name in ("b.obj", "a.obj", "c.ply", "s.blend"):
        (tmp_path / name).write_text("")
    star = str(tmp_path / "*.obj")
    assert cl.expand([star, str(tmp_path / "c.ply"), str(tmp_path / "a.obj")]) == [
        str(tmp_path / "a.obj"), str(tmp_path / "b.obj"), str(tmp_path / "c.ply")]
    assert cl.expand([str(tmp_path / "*.blend") + ":Rock"]) == [str(tmp_path / "s.blend") + ":Rock"]
    assert cl.expand([str(tmp_path / "*.stl")]) == [str(tmp_path / "*.stl")]  # no match: kept, fails later


def test_asset_names_outputs_digest_and_record(tmp_path):
    rock = tmp_path / "rock.obj"
    rock.write_bytes(b"v 0 0 0\n")
    asset = cl.Asset(str(rock))
    assert asset.name == "rock" and asset.object_name is None
    assert asset.outputs(tmp_path, None) == [tmp_path / "rock.blend"]
    assert asset.outputs(tmp_path, "gltf") == [tmp_path / "rock.glb", tmp_path / "rock.blend"]
    digest = asset.digest()
    assert len(digest) == 64
    assert json.loads(asset.record("obj")) == {"input": str(rock), "object": None,
                                               "sha256": digest, "export": "obj"}
    inner = cl.Asset("scene.blend:Rock/LOD0")
    assert inner.name == "scene_Rock_LOD0" and inner.object_name == "Rock/LOD0"
    assert inner.digest() is None  # no such file


def test_same_fit_needs_the_same_input_settings_and_export(tmp_path):
    rock = tmp_path / "rock.obj"
    rock.write_bytes(b"v 0 0 0\n")
    asset = cl.Asset(str(rock))
    settings = {"iterations": 20, "learning_rate": 0.01}
    record = json.loads(asset.record("obj"))
    stored = {"iterations": 20, "learning_rate": 0.009999999776482582}  # float32, as stored
    assert cl.same_fit((stored, {}, record), asset, settings, "obj")
    assert cl.same_fit((stored, {}, record), asset, settings, None)  # an extra export is fine
    assert not cl.same_fit((stored, {}, record), asset, settings, "gltf")
    assert not cl.same_fit((dict(stored, iterations=30), {}, record), asset, settings, "obj")
    assert not cl.same_fit((stored, {}, dict(record, sha256=None)), asset, settings, "obj")
    assert not cl.same_fit((stored, {}, dict(record, object="Rock")), asset, settings, "obj")
    assert not cl.same_fit((None, {}, record), asset, settings, "obj")
    rock.write_bytes(b"v 1 0 0\n")
    assert not cl.same_fit((stored, {}, record), cl.Asset(str(rock)), settings, "obj")


def test_an_output_over_an_input_is_found(tmp_path):
    rock = tmp_path / "rock.obj"
    rock.write_text("")
    assets = [cl.Asset(str(rock))]
    assert cl.overwritten_input(assets, tmp_path / "out", "obj") is None
    assert cl.overwritten_input(assets, tmp_path, "obj") == (rock, assets[0])
    assert cl.overwritten_input(assets, tmp_path, None) is None
    report = tmp_path / "report.json"
    mine = cl.Asset(str(report))
    assert cl.overwritten_input([mine], tmp_path, None) == (report, mine)


def test_prepare_output_and_stale_files(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    assert cl.prepare_output(a_file) == (f"--output {a_file} is a file, not a folder; give a "
                                         f"folder for the results.")
    assert cl.prepare_output(a_file / "sub").startswith(f"cannot create the output folder {a_file / 'sub'} (")
    out = tmp_path / "out"
    assert cl.prepare_output(out) is None and out.is_dir() and not list(out.iterdir())
    keep = out / "rock.blend.part"  # an input, however it is named
    for name in ("a.blend.part", "a.blend.part@", "a.obj.part", "a.glb.part.glb", "report.json.part",
                 "a.blend", "notes.part", keep.name):
        (out / name).write_text("")
    cl.remove_stale(out, [cl.Asset(str(keep))])
    assert sorted(p.name for p in out.iterdir()) == ["a.blend", "notes.part", "rock.blend.part"]


def test_summary_table():
    entries = [
        {"input": "rock.obj", "status": "fitted",
         "figures": {"seconds": 12.34, "chamfer": 0.00123, "resolution": 5, "vertices": 10242,
                     "self_intersections": 0}},
        {"input": "scene.blend:Cone", "status": "skipped", "figures": {"chamfer": 0.5}},
        {"input": "bad.ply", "status": "failed", "message": "bad.ply: no such file."},
    ]
    assert cl.summary_table(entries).splitlines() == [
        "input             status   seconds  chamfer   level  vertices  self-int.",
        "----------------  -------  -------  --------  -----  --------  ---------",
        "rock.obj          fitted   12.3     1.23e-03  5      10242     0",
        "scene.blend:Cone  skipped  -        5.00e-01  -      -         -",
        "bad.ply           failed   -        -         -      -         -",
        "FAILED bad.ply: bad.ply: no such file.",
    ]


HEADER = {"command": f"{cl.PROG} fit", "blender": "4.5.4 LTS"}


def entry(name, status="fitted", out=None, **more):
    outputs = [str(out / f"{name}.blend")] if out else []
    return dict({"input": f"{name}.obj", "name": name, "status": status, "outputs": outputs}, **more)


def test_report_keeps_earlier_entries_while_their_files_remain(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("rock", "cube", "gone"):
        (out / f"{name}.blend").write_text("")
    report = cl.Report(out / cl.REPORT, out, HEADER)
    for name in ("rock", "cube", "gone"):
        report.write(entry(name, out=out))
    written = json.loads((out / cl.REPORT).read_text())
    assert {k: written[k] for k in HEADER} == HEADER and list(written)[-1] == "assets"
    (out / "gone.blend").unlink()
    # a later run (from another working folder: outputs are found by name) fails on rock
    again = cl.Report(out / cl.REPORT, out, HEADER)
    assert set(again.entries) == {"rock", "cube"}
    failed = dict(entry("rock", status="failed"), message="rock.obj: broken")
    again.write(failed)
    assets = {e["name"]: e for e in json.loads((out / cl.REPORT).read_text())["assets"]}
    assert set(assets) == {"rock", "cube"}
    assert assets["rock"]["status"] == "failed"
    assert assets["rock"]["earlier"]["status"] == "fitted"  # its files are still there
    assert not list(out.glob("*.part"))


def test_an_unreadable_report_starts_afresh_and_a_lost_one_is_said_once(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / cl.REPORT).write_text("{not json")
    assert cl.Report(out / cl.REPORT, out, HEADER).entries == {}
    (out / cl.REPORT).write_text(json.dumps({"assets": [{"name": 3}, "x", {"name": "a", "outputs": [1]}]}))
    assert cl.read_entries(out / cl.REPORT) == []
    (out / cl.REPORT).unlink()
    (out / cl.REPORT).mkdir()  # in the way
    report = cl.Report(out / cl.REPORT, out, HEADER)
    report.write(entry("rock"))
    report.write(entry("cube"))
    text = capsys.readouterr().out
    assert text.count(f"cannot write {out / cl.REPORT} (") == 1 and report.error is not None
    assert [p.name for p in out.iterdir()] == [cl.REPORT]


def test_plain_turns_blender_values_into_json():
    class Array:
        def to_list(self):
            return [1, 2]
    assert json.dumps({"a": Array(), "b": pathlib.Path("x")}, default=cl.plain) == '{"a": [1, 2], "b": "x"}'



# -- onto: one mesh morphed onto another's shape --------------------------------------------
def test_onto_parses_two_inputs_keys_frames_and_only_its_settings(capsys):
    args = parse("onto", "cube.obj", "scene.blend:Suzanne", "-o", "out", "--keys", "4",
                 "--frame-start", "10", "--frame-end", "50", "--no-ease", "--export", "gltf",
                 "--iterations", "20", "--points", "128")
    assert (args.command, args.source, args.target, args.output) == (
        "onto", "cube.obj", "scene.blend:Suzanne", "out")
    assert (args.keys, args.frame_start, args.frame_end, args.ease, args.export) == (
        4, 10, 50, False, "gltf")
    settings = cl.settings_of(args, core.settings.ONTO_SETTINGS)
    assert list(settings) == list(core.settings.ONTO_SETTINGS)
    assert settings["iterations"] == 20 and settings["points"] == 128
    plain = parse("onto", "a.obj", "b.obj", "-o", "out")
    assert (plain.keys, plain.frame_start, plain.frame_end, plain.ease, plain.export) == (
        core.settings.DEFAULT_KEYS, 1, 100, True, None)
    # a preset sets only what Morph Onto takes; explicit options win
    draft = cl.settings_of(parse("onto", "a.obj", "b.obj", "-o", "o", "--preset", "Draft",
                                 "--seed", "3"), core.settings.ONTO_SETTINGS)
    assert "resolution" not in draft and "parts" not in draft
    assert draft["iterations"] == presets.preset("Draft")["iterations"] and draft["seed"] == 3
    core.user_settings(**draft)
    with pytest.raises(SystemExit) as exc:
        parse("onto", "--help")
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--output", "--keys", "--frame-start", "--frame-end", "--no-ease",
                   "--export {gltf,obj}", "--preset", "--iterations", "--points",
                   "--learning-rate", "--steps", "--normalization {affine,similarity}", "--seed"):
        assert option in text, option
    assert "--resolution" not in text and "--parts" not in text and "--force" not in text
    for argv in (["onto", "a.obj", "-o", "o"], ["onto", "a.obj", "b.obj"],
                 ["onto", "a.obj", "b.obj", "-o", "o", "--resolution", "3"],
                 ["onto", "a.obj", "b.obj", "-o", "o", "--keys", "many"]):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2, argv
    capsys.readouterr()


def test_onto_pair_names_outputs_record_and_sameness(tmp_path):
    cube, scene = tmp_path / "cube.obj", tmp_path / "scene.blend"
    cube.write_text("v 0 0 0\n")
    scene.write_bytes(b"BLENDER")
    pair = cl.Pair(str(cube), f"{scene}:Rock/LOD0")
    assert pair.name == "cube_onto_scene_Rock_LOD0"
    assert pair.spec == f"{cube} onto {scene}:Rock/LOD0"
    assert pair.outputs(tmp_path, "obj") == [tmp_path / f"{pair.name}.obj",
                                             tmp_path / f"{pair.name}.blend"]
    record = json.loads(pair.record("obj"))
    assert record["source"]["sha256"] == pair.source.digest() and record["export"] == "obj"
    assert record["target"]["object"] == "Rock/LOD0"
    assert not pair.same_input()
    assert cl.Pair(str(cube), str(tmp_path / "." / "cube.obj")).same_input()
    assert cl.Pair(f"{scene}:A", f"{scene}:A").same_input()
    assert not cl.Pair(f"{scene}:A", f"{scene}:B").same_input()
    # an output over an input: the pair's own outputs are checked
    inputs = [pair.source, pair.target]
    out = tmp_path / "out"
    assert cl.overwritten_input(inputs, out, "obj", pair.outputs(out, "obj")) is None
    mine = tmp_path / cl.REPORT
    mine.write_text("{}")
    odd = cl.Pair(str(cube), str(mine))
    clash = cl.overwritten_input([odd.source, odd.target], tmp_path, "obj", odd.outputs(tmp_path, "obj"))
    assert clash == (mine, odd.target)

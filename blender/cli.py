"""`blender -b -c neural_morph fit ...`: fit a batch of asset files from the command line.

Registered with `bpy.utils.register_cli_command` while the extension is enabled. Each input
(OBJ, PLY, STL, glTF/GLB through Blender's own importers, or `scene.blend:Object`) gives
`<output>/<name>.blend` holding the target and its morph (flow stored), optionally the
morph exported with Blender's exporter, and one entry in `<output>/report.json`.
Fits go through `fitting.fit_objects`, the function behind the Fit button, so they equal
the button's. `onto SOURCE TARGET` morphs one mesh onto another's shape through
blender/onto.py's `morph_onto` (the Morph Onto button's) and writes its result the same
way, as `<output>/<source>_onto_<target>.blend`. What needs no bpy (the parser, inputs
and names, the output folder's checks, the report and the summary) is in commandline.py;
this module imports, fits and saves.
"""
import atexit
import ctypes
import json
import os
import pathlib
import shutil
import sys
import time
import traceback

import bpy

from .. import core
from ..commandline import (COMMAND, IMPORTERS, PARTIAL, PROG, REPORT, RUN_KEY, Asset, AssetError,
                           Pair, Report, build_parser, clean, expand, overwritten_input, prepare_output,
                           reason, remove, remove_stale, same_fit, settings_of, summary_table)
from . import deps, fitting, onto, store, targets

_handle = None


def register():
    """Register the command (kept so unregister removes exactly this one)."""
    global _handle
    if _handle is None and hasattr(bpy.utils, "register_cli_command"):
        _handle = bpy.utils.register_cli_command(COMMAND, command)


def command(argv):
    """What Blender runs for `-c neural_morph`: the batch, then the end of the process.

    A process that imported torch and exported glTF can hang for ever in Blender's static
    destructors at exit, so once everything is written and printed the process leaves
    without C++ teardown: Python's exit functions run, Blender's session temporary folder
    is removed (as Blender's own exit does), then `os._exit` with the batch's status."""
    try:
        status = main(argv)
    except KeyboardInterrupt:
        print("Neural Morph: interrupted; stopping the batch.", flush=True)
        status = 130
    except Exception:  # noqa: BLE001  (a bug: say where, and still end the process)
        traceback.print_exc()
        status = 1
    leave(status)
    return status  # not reached


def leave(status):
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        atexit._run_exitfuncs()
    except Exception:  # noqa: BLE001  (leaving anyway)
        pass
    temp = bpy.app.tempdir
    if temp and os.path.basename(os.path.normpath(temp)).startswith("blender_"):
        shutil.rmtree(temp, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:  # what Blender itself printed through C stdio (os._exit does not flush it)
        ctypes.CDLL(None).fflush(None)
    except (OSError, TypeError, AttributeError):  # no C library under that name (Windows)
        pass
    os._exit(status)


def unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None


def load_asset(asset):
    """Empty the file, then bring the asset's geometry in. Returns the target object names."""
    bpy.ops.wm.read_homefile(use_empty=True)
    return import_asset(asset)


def import_asset(asset):
    """Bring the asset's geometry into the current file. Returns its object names."""
    path = pathlib.Path(asset.path)
    if not path.is_file():
        raise AssetError(f"{asset.path}: no such file.")
    if asset.object_name:
        if path.suffix.lower() != ".blend":
            raise AssetError(f"{asset.spec}: only a .blend file can name an object.")
        try:
            with bpy.data.libraries.load(str(path), link=False) as (src, dst):  # type: ignore[attr-defined]  # stub: load -> None
                if asset.object_name not in src.objects:
                    raise AssetError(f"{asset.spec}: '{path.name}' has no object named "
                                     f"'{asset.object_name}'.")
                dst.objects = [asset.object_name]
        except OSError as exc:
            raise AssetError(f"{asset.spec}: cannot read the .blend file ({exc}).") from None
        obj = dst.objects[0]
        bpy.context.scene.collection.objects.link(obj)
        return [obj.name]
    suffix = path.suffix.lower()
    if suffix not in IMPORTERS:
        raise AssetError(f"{asset.path}: cannot import '{suffix or path.name}' files; use "
                         f"{', '.join(sorted(IMPORTERS))} or FILE.blend:OBJECT.")
    op_path, keyword = IMPORTERS[suffix]
    module, name = op_path.split(".")
    before = set(bpy.data.objects)
    try:
        result = getattr(getattr(bpy.ops, module), name)(**{keyword: str(path)})
    except RuntimeError as exc:
        raise AssetError(f"{asset.path}: Blender could not import it: {clean(exc)}") from None
    new = [o for o in bpy.data.objects if o not in before and o.type in targets.SURFACE_TYPES]
    if result != {'FINISHED'} or not new:
        raise AssetError(f"{asset.path}: nothing to fit (Blender imported no mesh from it; "
                         f"is it a valid {suffix[1:].upper()} file?).")
    return [o.name for o in new]


# -- one asset -------------------------------------------------------------------------------
def fit_asset(asset, out_dir, settings, export):
    """Import, fit, export, save. Returns the figures. Leaves no output if it fails."""
    names = load_asset(asset)
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj.name in names)
    bpy.context.view_layer.objects.active = bpy.data.objects[names[0]]
    # one name: that object; several (a multi-object file): their union, like the panel
    props = fitting.fit_props(names[0] if len(names) == 1 else "", **settings)
    # the button's fit; Ctrl+C (KeyboardInterrupt) stops the batch
    morph, _ = as_asset_error(asset.spec, lambda: fitting.fit_objects(
        bpy.context, props, fitting.console_progress(props.iterations)))
    figures = store.figures_of(morph)
    fitting.report_result(fitting.CONSOLE, figures)
    write_outputs(morph, asset, out_dir, export)
    return figures


def as_asset_error(spec, work):
    """work(), with its failure as an AssetError that names `spec`: bad input with its
    sentence, a bug with its traceback and the sentence the operator reports."""
    try:
        return work()
    except (ValueError, deps.MissingDependency) as exc:  # bad input: its sentence
        fitting.CONSOLE.report({'ERROR'}, str(exc))
        raise AssetError(f"{spec}: {exc}") from None
    except Exception as exc:  # a bug: its traceback, and the sentence the operator reports
        traceback.print_exception(exc)
        sentence = (f"Neural Morph failed unexpectedly ({type(exc).__name__}: {exc}); its traceback "
                    "is printed in the system console: please report it.")
        fitting.CONSOLE.report({'ERROR'}, sentence)
        raise AssetError(f"{spec}: {sentence}") from None


def write_outputs(morph, asset, out_dir, export):
    """The export (if asked) and the .blend of `asset` (an Asset or a Pair), each written
    under a .part name and renamed once all are written; nothing is kept if one fails."""
    files = asset.outputs(out_dir, export)
    partial = [f.with_name(f.name + PARTIAL) for f in files]
    writing, renamed = files[0], []
    try:
        if export:
            export_morph(morph, partial[0], export)
        writing = files[-1]
        scene = bpy.context.scene
        assert scene is not None  # a background batch always has one
        scene[RUN_KEY] = asset.record(export)
        save_blend(partial[-1])
        for done, final in zip(partial, files):  # the .blend last: it marks the asset complete
            writing = final
            os.replace(done, final)
            renamed.append(final)
    except (OSError, RuntimeError) as exc:
        for final in renamed:  # an export without its .blend is no output
            remove(final)
        raise AssetError(f"{asset.spec}: cannot write {writing} ({reason(exc)}); nothing of "
                         f"this asset was kept.") from None
    finally:
        for leftover in partial:
            remove(leftover)
            remove(leftover.with_name(leftover.name + "@"))


def save_blend(path):
    """Save a copy of the file at `path`, without the numbered backups (`FILE1`) Blender
    keeps when the path exists (Preferences > Save Versions)."""
    prefs = bpy.context.preferences.filepaths
    versions = prefs.save_version
    prefs.save_version = 0
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, check_existing=False)
    finally:
        prefs.save_version = versions
    if not path.is_file():
        raise OSError("Blender saved nothing")


def export_morph(morph, path, kind):
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == morph)
    bpy.context.view_layer.objects.active = morph
    glb = path.with_name(path.name + ".glb")  # in case the exporter appends its suffix
    try:
        if kind == "obj":
            bpy.ops.wm.obj_export(filepath=str(path), export_selected_objects=True, export_uv=True,
                                  export_normals=True, export_materials=False)
        else:
            bpy.ops.export_scene.gltf(filepath=str(path), export_format='GLB', use_selection=True,
                                      export_texcoords=True, export_normals=True)
            if not path.exists() and glb.exists():
                os.replace(glb, path)
    finally:
        remove(glb)
    if not path.is_file():
        raise OSError("the exporter wrote nothing")


def earlier_fit(blend):
    """(settings, figures, record) of the morph in an output .blend: the settings its flow was
    fitted with, its figures, and the RUN_KEY record of the run that saved it; None when the
    file cannot be read or holds no morph."""
    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    except RuntimeError:
        return None
    for obj in bpy.data.objects:
        if store.FLOW_KEY in obj.keys():  # type: ignore[operator]  # stub: keys -> None
            try:
                settings = json.loads(str(obj[store.FLOW_KEY]))["settings"]
                record = json.loads(str(bpy.context.scene.get(RUN_KEY, "{}")))
            except (ValueError, KeyError, TypeError):
                return None
            return settings, store.figures_of(obj), record
    return None


# -- the batch -------------------------------------------------------------------------------
def refuse_output(out_dir, inputs, export, files=None):
    """2 (and the sentence printed) when an output would write over one of `inputs` or the
    output folder cannot be used, before anything is fitted; else 0."""
    clash = overwritten_input(inputs, out_dir, export, files)
    if clash is not None:
        print(f"Neural Morph: {clash[0]} would write over the input {clash[1].spec}; nothing "
              f"was fitted: choose another --output folder.", flush=True)
        return 2
    problem = prepare_output(out_dir)
    if problem is not None:
        print(f"Neural Morph: {problem}", flush=True)
        return 2
    return 0


def main(argv):
    """The batch: `argv` is everything after `-c neural_morph`. Returns the exit status: 0
    when every input is fitted or skipped, 1 when any failed, 2 for bad usage. (Blender runs
    `command`, which ends the process with this status.)"""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help or a usage error: argparse has printed why
        return exc.code if isinstance(exc.code, int) else 2
    run = {"fit": run_batch, "onto": run_onto}.get(args.command)
    if run is None:
        build_parser().print_help()
        return 2
    if deps.missing():
        print(f"Neural Morph: cannot fit: {deps.INSTALL_HINT}", flush=True)
        return 1
    return run(args)


def run_batch(args):
    out_dir = pathlib.Path(args.output)
    settings = settings_of(args)
    try:  # refuse bad settings once, before any asset, with the operator's own message
        core.user_settings(**settings)
    except ValueError as exc:
        print(f"Neural Morph: {exc}", flush=True)
        return 2
    assets = [Asset(spec) for spec in expand(args.inputs)]
    if not any(pathlib.Path(a.path).is_file() for a in assets):
        for a in assets:
            print(f"Neural Morph: {a.path}: no such file.", flush=True)
        return 1
    refused = refuse_output(out_dir, assets, args.export)
    if refused:
        return refused
    remove_stale(out_dir, assets)
    report_path = out_dir / REPORT
    report = Report(report_path, out_dir, {"command": f"{PROG} fit", "blender": bpy.app.version_string})
    seen = {}
    entries = []
    total = len(assets)
    print(f"Neural Morph: {total} input(s) -> {out_dir}", flush=True)
    for index, asset in enumerate(assets, 1):
        tag = f"[{index}/{total}] {asset.spec}"
        entry = {"input": asset.spec, "name": asset.name, "settings": settings,
                 "export": args.export}
        start = time.perf_counter()
        key = asset.name
        try:
            if asset.name in seen:
                key = asset.spec  # its entry must not take the place of the first one's
                raise AssetError(f"{asset.spec}: gives the same output name '{asset.name}' as "
                                 f"{seen[asset.name]}; rename one of them.")
            seen[asset.name] = asset.spec
            files = asset.outputs(out_dir, args.export)
            earlier = None
            if not args.force and all(f.is_file() for f in files):
                earlier = earlier_fit(files[-1])
            if earlier is not None and same_fit(earlier, asset, settings, args.export):
                entry.update(status="skipped", figures=earlier[1])
                print(f"Neural Morph: {tag}: skipped, {files[-1]} was fitted from this input "
                      f"with the same settings (--force refits)", flush=True)
            else:
                if earlier is not None:
                    print(f"Neural Morph: {tag}: {files[-1]} was fitted with other settings or "
                          f"from another input; refitting", flush=True)
                print(f"Neural Morph: {tag}: fitting", flush=True)
                entry.update(status="fitted", figures=fit_asset(asset, out_dir, settings, args.export))
                print(f"Neural Morph: {tag}: done in {time.perf_counter() - start:.1f} s, "
                      f"Chamfer {entry['figures']['chamfer']:.2e}, level "
                      f"{entry['figures']['resolution']} -> {files[-1]}", flush=True)
            entry["outputs"] = [str(p) for p in files]
        except KeyboardInterrupt:
            return interrupted(entry, tag, report, entries, key)
        except Exception as exc:  # one bad asset must not stop the batch
            failed(entry, tag, asset.spec, exc)
        entries.append(entry)
        report.write(entry, key)
    return finish(entries, report)


def interrupted(entry, tag, report, entries, key=None):
    """Record an interrupted entry and say so; the exit status of a stopped batch."""
    entry.update(status="failed", message="interrupted")
    entries.append(entry)
    report.write(entry, key)
    print(f"Neural Morph: {tag}: interrupted; stopping the batch.", flush=True)
    return 130


def failed(entry, tag, spec, exc):
    """Mark `entry` failed with the sentence of `exc` (an AssetError's, or its type) and say so."""
    message = (str(exc) if isinstance(exc, AssetError)
               else f"{spec}: {type(exc).__name__}: {exc}")
    entry.update(status="failed", message=message)
    print(f"Neural Morph: {tag}: FAILED: {message}", flush=True)


def finish(entries, report):
    """The summary table and line once every entry is done; the exit status."""
    bpy.ops.wm.read_homefile(use_empty=True)
    print(summary_table(entries), flush=True)
    total = len(entries)
    lost = sum(e["status"] == "failed" for e in entries)
    where = f"report: {report.path}" if report.error is None else "report.json NOT written"
    print(f"Neural Morph: {total - lost} of {total} done, {lost} failed; {where}", flush=True)
    return 1 if lost or report.error is not None else 0


# -- Morph Onto ------------------------------------------------------------------------------
def run_onto(args):
    """`onto SOURCE TARGET`: both imported into one fresh file, SOURCE's mesh morphed onto
    TARGET's shape by blender/onto.py's `morph_onto` (the button's), written like a fit's
    morph as <output>/<source>_onto_<target>.blend (+ export) with an entry in report.json.
    Exit status 0 done, 1 failed (a missing or bad input, an output not written), 2 for
    bad options or an output over an input (checked before any fit)."""
    out_dir = pathlib.Path(args.output)
    settings = settings_of(args, core.settings.ONTO_SETTINGS)
    try:  # refuse bad settings before anything, with the operator's own message
        core.user_settings(**settings)
        core.settings.check_keys(args.keys)
        if args.frame_end <= args.frame_start:
            raise ValueError("--frame-end must come after --frame-start.")
    except ValueError as exc:
        print(f"Neural Morph: {exc}", flush=True)
        return 2
    pair = Pair(args.source, args.target)
    missing = [a for a in (pair.source, pair.target) if not pathlib.Path(a.path).is_file()]
    for asset in missing:
        print(f"Neural Morph: {asset.path}: no such file.", flush=True)
    if missing:
        return 1
    if pair.same_input():
        print(f"Neural Morph: {pair.spec}: {onto.SAME}", flush=True)
        return 2
    files = pair.outputs(out_dir, args.export)
    refused = refuse_output(out_dir, [pair.source, pair.target], args.export, files)
    if refused:
        return refused
    remove_stale(out_dir, [pair.source, pair.target])
    report = Report(out_dir / REPORT, out_dir, {"command": f"{PROG} onto",
                                                "blender": bpy.app.version_string})
    tag = pair.spec
    entry = {"input": pair.spec, "name": pair.name, "source": pair.source.spec,
             "target": pair.target.spec, "settings": settings, "keys": args.keys,
             "frame_start": args.frame_start, "frame_end": args.frame_end, "ease": args.ease,
             "export": args.export}
    start = time.perf_counter()
    entries: list = []
    print(f"Neural Morph: {tag} -> {out_dir}", flush=True)
    try:
        entry.update(status="fitted", figures=onto_pair(pair, out_dir, settings, args))
        figures = entry["figures"]
        print(f"Neural Morph: {tag}: done in {time.perf_counter() - start:.1f} s, Chamfer "
              f"{figures['chamfer']:.2e}, {figures['vertices']} vertices -> {files[-1]}",
              flush=True)
        entry["outputs"] = [str(p) for p in files]
    except KeyboardInterrupt:
        return interrupted(entry, tag, report, entries)
    except Exception as exc:  # noqa: BLE001  (said, recorded, exit status 1)
        failed(entry, tag, pair.spec, exc)
    entries.append(entry)
    report.write(entry)
    return finish(entries, report)


def onto_pair(pair, out_dir, settings, args):
    """Import both, morph, export, save. Returns the figures. Leaves no output if it fails."""
    bpy.ops.wm.read_homefile(use_empty=True)
    source = one_object(pair.source, import_asset(pair.source))
    target = one_object(pair.target, import_asset(pair.target))
    props = onto.onto_props(source, target, args.keys, args.frame_start, args.frame_end,
                            args.ease, **settings)
    obj, figures, _ = as_asset_error(pair.spec, lambda: onto.morph_onto(
        bpy.context, props, fitting.console_progress(props.iterations)))
    fitting.report_result(fitting.CONSOLE, figures)
    if figures["source_self_intersections"]:
        fitting.CONSOLE.report({'WARNING'}, onto.SOURCE_CROSSES.format(
            name=figures["morphed_mesh"], count=figures["source_self_intersections"]))
    write_outputs(obj, pair, out_dir, args.export)
    return figures


def one_object(asset, names):
    """The name of the one object an input gave: the meshes of a file that holds several
    (a glTF scene, an OBJ with groups) joined into one, as Morph Onto takes one source
    and one target."""
    if len(names) == 1:
        return names[0]
    objects = [bpy.data.objects[n] for n in names]
    if any(o.type != 'MESH' for o in objects):
        raise AssetError(f"{asset.spec}: holds {len(objects)} objects that are not all meshes; "
                         f"Morph Onto takes one: name one as FILE.blend:OBJECT.")
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(obj in objects)
    view_layer.objects.active = objects[0]
    bpy.ops.object.join()
    return objects[0].name  # the active object, which the others joined

"""`blender -b -c neural_morph fit ...`: fit a batch of asset files from the command line.

Registered with `bpy.utils.register_cli_command` while the extension is enabled. Each input
(OBJ, PLY, STL, glTF/GLB through Blender's own importers, or `scene.blend:Object`) gives
`<output>/<name>.blend` holding the target and its morph (flow stored), optionally the
morph exported with Blender's exporter, and one entry in `<output>/report.json`.
Fits go through `fitting.fit_objects`, the function behind the Fit button, so they equal
the button's.
"""
import argparse
import atexit
import ctypes
import glob
import hashlib
import json
import math
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time
import traceback

import bpy

from .. import core
from ..core import presets
from ..core import settings as core_settings
from . import deps, fitting, store, targets

COMMAND = "neural_morph"
PROG = f"blender -b -c {COMMAND}"
REPORT = "report.json"
PARTIAL = ".part"  # suffix of files being written; renamed only once complete
# What a killed run can leave in the output folder (Blender saves through `FILE@`; the glTF
# exporter may append `.glb`; older versions left `.part1` backups): removed at the start.
STALE = (".blend" + PARTIAL, ".blend" + PARTIAL + "@", ".blend" + PARTIAL + "1",
         ".obj" + PARTIAL, ".glb" + PARTIAL, ".glb" + PARTIAL + ".glb", REPORT + PARTIAL)
RUN_KEY = "_neural_morph_batch"  # scene property of an output .blend: which input and export made it
BLEND_SEP = ".blend:"  # FILE.blend:OBJECT splits here, so object names may hold ':'
UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')  # not allowed in file names somewhere
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10))}
MAX_NAME_BYTES = 200  # file names are limited to 255 bytes; leaves room for the suffixes

# File suffix -> (operator path, keyword of its file argument). Blender's own importers.
IMPORTERS = {
    ".obj": ("wm.obj_import", "filepath"),
    ".ply": ("wm.ply_import", "filepath"),
    ".stl": ("wm.stl_import", "filepath"),
    ".gltf": ("import_scene.gltf", "filepath"),
    ".glb": ("import_scene.gltf", "filepath"),
}
EXPORT_SUFFIX = {"obj": ".obj", "gltf": ".glb"}

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


class AssetError(Exception):
    """One asset cannot be fitted: the message is shown as is."""


# -- options ---------------------------------------------------------------------------------
def fit_options():
    """[(name, type, default, description)] of the user-facing fit settings, from
    core/settings.py: the one home of their defaults (the operator reads them there too)."""
    defaults = core.FitSettings()
    return [(name, type(getattr(defaults, name)), getattr(defaults, name), description)
            for name, (_, description) in core_settings.USER_SETTINGS.items()]


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Neural Morph on the command line.",
        epilog=f"Example: {PROG} fit rock_*.obj --output out/ --preset Draft")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    fit = commands.add_parser(
        "fit", help="fit each input and write one .blend per input",
        description="Fit a sphere flow to each input and write <output>/<name>.blend (target "
                    "and morph, flow stored) plus <output>/report.json. An input whose complete "
                    "output was fitted from the same file with the same settings is skipped "
                    "unless --force; one fitted otherwise is refitted. An output that would "
                    "replace an input is refused.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="mesh files Blender imports (" + ", ".join(sorted(IMPORTERS)) +
                          "; wildcards allowed) or FILE.blend:OBJECT")
    fit.add_argument("--output", "-o", required=True, help="folder for the results (created if missing)")
    fit.add_argument("--preset", choices=list(presets.presets()), default=None,
                     help="start from a preset's settings; options given explicitly win "
                          "(default: none, the operator defaults)")
    for name, kind, default, description in fit_options():
        choices = core_settings.USER_CHOICES.get(name)
        fit.add_argument("--" + name.replace("_", "-"), type=kind, default=None, dest=name,
                         choices=choices, metavar=None if choices else name.upper(),
                         help=f"{description} (default: {default})")
    fit.add_argument("--export", choices=sorted(EXPORT_SUFFIX), default=None,
                     help="also export each morph with Blender's exporter, UVs included: "
                          "obj -> NAME.obj, gltf -> NAME.glb (default: none)")
    fit.add_argument("--force", action="store_true",
                     help="refit every input (default: skip those whose complete output was fitted "
                          "from the same file with the same settings)")
    return parser


def settings_of(args):
    """The operator keyword arguments: defaults, then the preset, then explicit options."""
    values = {name: default for name, _, default, _ in fit_options()}
    if args.preset:
        values.update(presets.preset(args.preset))
    for name in list(values):
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    return values


# -- inputs ----------------------------------------------------------------------------------
class Asset:
    """One input: a mesh file, or an object inside a .blend (`path:Object`)."""

    def __init__(self, spec):
        self.spec = spec
        self.path, self.object_name = split_spec(spec)
        stem = pathlib.Path(self.path).stem
        self.name = safe_name(f"{stem}_{self.object_name}" if self.object_name else stem)
        self._digest = None

    def outputs(self, out_dir, export):
        files = [out_dir / f"{self.name}.blend"]
        if export:
            files.insert(0, out_dir / f"{self.name}{EXPORT_SUFFIX[export]}")
        return files

    def digest(self):
        """SHA-256 of the input file (None when it cannot be read): which input a fit used."""
        if self._digest is None:
            try:
                with open(self.path, "rb") as f:
                    self._digest = hashlib.file_digest(f, "sha256").hexdigest()
            except OSError:
                return None
        return self._digest


def split_spec(spec):
    """("scene.blend", "Rock:A") for "scene.blend:Rock:A"; (path, None) for a plain file.

    Splits at a `.blend:` boundary, the first one whose head is a file (else the first), so
    object names may contain ':' and Windows paths keep their drive letter."""
    cuts = [m.start() + len(BLEND_SEP) - 1 for m in re.finditer(re.escape(BLEND_SEP), spec, re.I)]
    cuts = [c for c in cuts if c + 1 < len(spec)]  # an object name follows
    if not cuts:
        return spec, None
    cut = next((c for c in cuts if os.path.isfile(spec[:c])), cuts[0])
    return spec[:cut], spec[cut + 1:]


def safe_name(name):
    """`name` as a file name that every file system accepts: characters that are not allowed
    somewhere (/ \\ : * ? " < > | and control characters) become '_', leading and trailing dots
    and spaces go, Windows' reserved names get a leading '_', and it is cut to MAX_NAME_BYTES."""
    name = UNSAFE.sub("_", name).strip(" .") or "_"
    if name.split(".")[0].upper() in RESERVED:
        name = "_" + name
    return name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", errors="ignore")


def expand(specs):
    """Inputs with wildcards expanded (a shell on Windows does not), order kept, no repeats."""
    out = []
    for spec in specs:
        path, obj = split_spec(spec)
        matches = sorted(glob.glob(path)) if glob.has_magic(path) and not os.path.exists(path) else [path]
        for match in matches or [path]:
            item = f"{match}:{obj}" if obj else match
            if item not in out:
                out.append(item)
    return out


def load_asset(asset):
    """Empty the file, then bring the asset's geometry in. Returns the target object names."""
    bpy.ops.wm.read_homefile(use_empty=True)
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
        raise AssetError(f"{asset.path}: Blender could not import it: {_clean(exc)}") from None
    new = [o for o in bpy.data.objects if o not in before and o.type in targets.SURFACE_TYPES]
    if result != {'FINISHED'} or not new:
        raise AssetError(f"{asset.path}: nothing to fit (Blender imported no mesh from it; "
                         f"is it a valid {suffix[1:].upper()} file?).")
    return [o.name for o in new]


def _clean(exc):
    """The message of a Blender operator's RuntimeError (an importer's), on one line."""
    return " ".join(str(exc).replace("Error: ", "").split())


# -- one asset -------------------------------------------------------------------------------
def fit_asset(asset, out_dir, settings, export):
    """Import, fit, export, save. Returns the figures. Leaves no output if it fails."""
    names = load_asset(asset)
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj.name in names)
    bpy.context.view_layer.objects.active = bpy.data.objects[names[0]]
    # one name: that object; several (a multi-object file): their union, like the panel
    props = fitting.fit_props(names[0] if len(names) == 1 else "", **settings)
    try:  # the button's fit; Ctrl+C (KeyboardInterrupt) stops the batch
        morph, _ = fitting.fit_objects(bpy.context, props, fitting.console_progress(props.iterations))
    except (ValueError, deps.MissingDependency) as exc:  # bad input: its sentence
        fitting.CONSOLE.report({'ERROR'}, str(exc))
        raise AssetError(f"{asset.spec}: {exc}") from None
    except Exception as exc:  # a bug: its traceback, and the sentence the operator reports
        traceback.print_exception(exc)
        sentence = (f"Neural Morph failed unexpectedly ({type(exc).__name__}: {exc}); its traceback "
                    "is printed in the system console: please report it.")
        fitting.CONSOLE.report({'ERROR'}, sentence)
        raise AssetError(f"{asset.spec}: {sentence}") from None
    figures = store.figures_of(morph)
    fitting.report_result(fitting.CONSOLE, figures)
    files = asset.outputs(out_dir, export)
    partial = [f.with_name(f.name + PARTIAL) for f in files]
    writing, renamed = files[0], []
    try:
        if export:
            export_morph(morph, partial[0], export)
        writing = files[-1]
        scene = bpy.context.scene
        assert scene is not None  # a background batch always has one
        scene[RUN_KEY] = json.dumps(
            {"input": asset.spec, "object": asset.object_name, "sha256": asset.digest(),
             "export": export})
        save_blend(partial[-1])
        for done, final in zip(partial, files):  # the .blend last: it marks the asset complete
            writing = final
            os.replace(done, final)
            renamed.append(final)
    except (OSError, RuntimeError) as exc:
        for final in renamed:  # an export without its .blend is no output
            _remove(final)
        raise AssetError(f"{asset.spec}: cannot write {writing} ({_reason(exc)}); nothing of "
                         f"this asset was kept.") from None
    finally:
        for leftover in partial:
            _remove(leftover)
            _remove(leftover.with_name(leftover.name + "@"))
    return figures


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
        _remove(glb)
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


def same_fit(earlier, asset, settings, export):
    """Whether an earlier output was fitted from this input with these settings (and holds
    the export asked for)."""
    stored, _, record = earlier
    if not isinstance(stored, dict) or not isinstance(record, dict):
        return False
    if (record.get("sha256") is None or record.get("sha256") != asset.digest()
            or record.get("object") != asset.object_name
            or (export and record.get("export") != export)):
        return False
    for name, value in settings.items():
        old = stored.get(name)
        if isinstance(value, float) and isinstance(old, (int, float)):
            if not math.isclose(old, value, rel_tol=1e-6):  # the operator keeps float32
                return False
        elif old != value:
            return False
    return True


def _remove(path):
    try:
        if path.is_file() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


def _reason(exc):
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else _clean(exc)


# -- the batch -------------------------------------------------------------------------------
def main(argv):
    """The batch: `argv` is everything after `-c neural_morph`. Returns the exit status: 0
    when every input is fitted or skipped, 1 when any failed, 2 for bad usage. (Blender runs
    `command`, which ends the process with this status.)"""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help or a usage error: argparse has printed why
        return exc.code if isinstance(exc.code, int) else 2
    if args.command != "fit":
        build_parser().print_help()
        return 2
    if deps.missing():
        print(f"Neural Morph: cannot fit: {deps.INSTALL_HINT}", flush=True)
        return 1
    return run_batch(args)


def overwritten_input(assets, out_dir, export):
    """(output, asset) when an output of this run would be one of the inputs, else None."""
    outputs = [out_dir / REPORT] + [f for a in assets for f in a.outputs(out_dir, export)]
    for asset in assets:
        for path in outputs:
            if _same_file(asset.path, path):
                return path, asset
    return None


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def prepare_output(out_dir):
    """Create the output folder; a sentence when it is not a folder this run can write in."""
    if out_dir.exists() and not out_dir.is_dir():
        return f"--output {out_dir} is a file, not a folder; give a folder for the results."
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return (f"cannot create the output folder {out_dir} ({_reason(exc)}); choose another "
                f"--output.")
    try:
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".neural_morph_", suffix=PARTIAL):
            pass
    except OSError as exc:
        return (f"cannot write in the output folder {out_dir} ({_reason(exc)}); choose another "
                f"--output.")
    return None


def remove_stale(out_dir, assets):
    """Remove what a killed run left: partly written files (see STALE), never an input."""
    try:
        found = list(out_dir.iterdir())
    except OSError:  # a folder one may write in but not list: nothing to find
        found = []
    for path in found:
        if path.name.endswith(STALE) and not any(_same_file(a.path, path) for a in assets):
            _remove(path)


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
    clash = overwritten_input(assets, out_dir, args.export)
    if clash is not None:
        print(f"Neural Morph: {clash[0]} would write over the input {clash[1].spec}; nothing "
              f"was fitted: choose another --output folder.", flush=True)
        return 2
    problem = prepare_output(out_dir)
    if problem is not None:
        print(f"Neural Morph: {problem}", flush=True)
        return 2
    remove_stale(out_dir, assets)
    report_path = out_dir / REPORT
    report = Report(report_path, out_dir)
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
            entry.update(status="failed", message="interrupted")
            entries.append(entry)
            report.write(entry, key)
            print(f"Neural Morph: {tag}: interrupted; stopping the batch.", flush=True)
            return 130
        except Exception as exc:  # one bad asset must not stop the batch
            message = (str(exc) if isinstance(exc, AssetError)
                       else f"{asset.spec}: {type(exc).__name__}: {exc}")
            entry.update(status="failed", message=message)
            print(f"Neural Morph: {tag}: FAILED: {message}", flush=True)
        entries.append(entry)
        report.write(entry, key)
    bpy.ops.wm.read_homefile(use_empty=True)
    print(summary_table(entries), flush=True)
    failed = sum(e["status"] == "failed" for e in entries)
    where = f"report: {report_path}" if report.error is None else "report.json NOT written"
    print(f"Neural Morph: {total - failed} of {total} done, {failed} failed; {where}", flush=True)
    return 1 if failed or report.error is not None else 0


def summary_table(entries):
    header = ("input", "status", "seconds", "chamfer", "level", "vertices", "self-int.")
    rows = [header]
    for e in entries:
        f = e.get("figures") or {}
        rows.append((e["input"], e["status"],
                     f"{f['seconds']:.1f}" if "seconds" in f else "-",
                     f"{f['chamfer']:.2e}" if "chamfer" in f else "-",
                     str(f.get("resolution", "-")), str(f.get("vertices", "-")),
                     str(f.get("self_intersections", "-"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for e in entries:
        if e["status"] == "failed":
            lines.append(f"FAILED {e['input']}: {e['message']}")
    return "\n".join(lines)


class Report:
    """`<output>/report.json`: this run's entries merged into the earlier report, whose
    entries stay while their .blend does. Written after each asset; a failure to write it
    is printed once (with its reason) and makes the exit status 1, the batch goes on."""

    def __init__(self, path, out_dir):
        self.path, self.out_dir, self.error = path, out_dir, None
        self.entries = {}
        for entry in _read_entries(path):  # outputs found by name: --output may be relative
            kept = [str(out_dir / pathlib.Path(p).name) for p in entry.get("outputs") or []
                    if (out_dir / pathlib.Path(p).name).is_file()]
            if (out_dir / f"{entry['name']}.blend").is_file() and kept:
                self.entries[entry["name"]] = dict(entry, outputs=kept)

    def write(self, entry, key=None):
        """Record `entry` under `key` (its name: the outputs it owns). A failed entry keeps
        the earlier entry of its name, whose files remain, as `earlier`."""
        key = key or entry["name"]
        old = self.entries.get(key)
        if entry["status"] == "failed" and old and old.get("outputs") and "earlier" not in entry:
            if all(pathlib.Path(p).is_file() for p in old["outputs"]):
                entry["earlier"] = {k: v for k, v in old.items() if k != "earlier"}
        self.entries[key] = entry
        report = {"command": f"{PROG} fit", "blender": bpy.app.version_string,
                  "assets": list(self.entries.values())}
        partial = self.path.with_name(self.path.name + PARTIAL)
        try:
            partial.write_text(json.dumps(report, indent=2, default=_plain) + "\n")
            os.replace(partial, self.path)
        except OSError as exc:
            _remove(partial)
            if self.error is None:
                print(f"Neural Morph: cannot write {self.path} ({_reason(exc)}); the lines above "
                      f"are the only record of this run.", flush=True)
            self.error = exc


def _read_entries(path):
    """The asset entries of an earlier report ([] when there is none or it is unreadable)."""
    try:
        entries = json.loads(path.read_text()).get("assets", [])
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)
                and isinstance(e.get("outputs", []), list)
                and all(isinstance(p, str) for p in e.get("outputs", []))]
    except (OSError, ValueError, AttributeError):
        return []


def _plain(value):
    """JSON for Blender's ID property values (IDPropertyArray and the like)."""
    try:
        return value.to_list()
    except AttributeError:
        return str(value)

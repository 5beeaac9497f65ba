"""The command line's bpy-free half: what `blender -c neural_morph ...` parses, names,
checks and records without Blender.

The parser (one subparser per command; `build_parser` adds them), the inputs (the
`FILE.blend:OBJECT` split, wildcard expansion, safe output names, the input's digest),
the output folder's checks, whether an earlier output holds the same fit, the summary
table and `<output>/report.json`. `blender/cli.py` imports, fits and saves with these;
`tests/core/test_commandline.py` tests them in plain Python. Imports core only, never bpy.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import pathlib
import re
import tempfile

from . import core
from .core import presets
from .core import settings as core_settings

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


class AssetError(Exception):
    """One asset cannot be fitted: the message is shown as is."""


# -- options ---------------------------------------------------------------------------------
def fit_options():
    """[(name, type, default, description)] of the user-facing fit settings, from
    core/settings.py: the one home of their defaults (the operator reads them there too)."""
    defaults = core.FitSettings()
    return [(name, type(getattr(defaults, name)), getattr(defaults, name), description)
            for name, (_, description) in core_settings.USER_SETTINGS.items()]


def add_fit_settings(parser, names=None):
    """--preset and one option per user-facing fit setting, or per setting in `names`
    (default None: not given)."""
    parser.add_argument("--preset", choices=list(presets.presets()), default=None,
                        help="start from a preset's settings; options given explicitly win "
                             "(default: none, the operator defaults)")
    for name, kind, default, description in fit_options():
        if names is not None and name not in names:
            continue
        choices = core_settings.USER_CHOICES.get(name)
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None, dest=name,
                            choices=choices, metavar=None if choices else name.upper(),
                            help=f"{description} (default: {default})")


def add_fit_command(commands):
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
    add_fit_settings(fit)
    fit.add_argument("--export", choices=sorted(EXPORT_SUFFIX), default=None,
                     help="also export each morph with Blender's exporter, UVs included: "
                          "obj -> NAME.obj, gltf -> NAME.glb (default: none)")
    fit.add_argument("--force", action="store_true",
                     help="refit every input (default: skip those whose complete output was fitted "
                          "from the same file with the same settings)")
    return fit


def add_onto_command(commands):
    onto = commands.add_parser(
        "onto", help="morph one mesh onto another's shape and write one .blend",
        description="Morph Onto: flow SOURCE's own mesh onto TARGET's shape and write "
                    "<output>/<source>_onto_<target>.blend (the source, the target and the "
                    "result: a copy of the source with shape keys from it to the target, flow "
                    "stored) plus <output>/report.json. The pair is morphed anew on every run. "
                    "An output that would replace an input is refused.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    spec = ("a mesh file Blender imports (" + ", ".join(sorted(IMPORTERS)) + ") or "
            "FILE.blend:OBJECT")
    onto.add_argument("source", metavar="SOURCE", help=f"the mesh to morph: {spec}")
    onto.add_argument("target", metavar="TARGET", help=f"the shape it takes: {spec}")
    onto.add_argument("--output", "-o", required=True, help="folder for the results (created if missing)")
    onto.add_argument("--keys", type=int, default=core.settings.DEFAULT_KEYS,
                      help=f"shape keys along the morph, both ends included "
                           f"(default: {core.settings.DEFAULT_KEYS})")
    onto.add_argument("--frame-start", type=int, default=1, dest="frame_start",
                      help="frame of the source's shape (default: 1)")
    onto.add_argument("--frame-end", type=int, default=100, dest="frame_end",
                      help="frame of the target's shape (default: 100)")
    onto.add_argument("--no-ease", action="store_false", dest="ease",
                      help="morph at an even pace (default: start and end slowly)")
    add_fit_settings(onto, core.settings.ONTO_SETTINGS)
    onto.add_argument("--export", choices=sorted(EXPORT_SUFFIX), default=None,
                      help="also export the result with Blender's exporter, UVs and shape keys "
                           "included: obj -> NAME.obj (the source's shape), gltf -> NAME.glb "
                           "(default: none)")
    return onto


# The subcommands, in the order `--help` lists them: a new one is a function
# add_X_command(commands) -> its parser, added here.
SUBCOMMANDS = (add_fit_command, add_onto_command)


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Neural Morph on the command line.",
        epilog=f"Example: {PROG} fit rock_*.obj --output out/ --preset Draft")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def settings_of(args, names=None):
    """The operator keyword arguments: defaults, then the preset, then explicit options;
    only the settings in `names` when given (a preset sets more than Morph Onto takes)."""
    values = {name: default for name, _, default, _ in fit_options()
              if names is None or name in names}
    if args.preset:
        values.update({k: v for k, v in presets.preset(args.preset).items() if k in values})
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
        return outputs_of(self.name, out_dir, export)

    def digest(self):
        """SHA-256 of the input file (None when it cannot be read): which input a fit used."""
        if self._digest is None:
            try:
                with open(self.path, "rb") as f:
                    self._digest = hashlib.file_digest(f, "sha256").hexdigest()
            except OSError:
                return None
        return self._digest

    def record(self, export):
        """The RUN_KEY record an output .blend of this asset keeps (see same_fit)."""
        return json.dumps({"input": self.spec, "object": self.object_name, "sha256": self.digest(),
                           "export": export})


class Pair:
    """One Morph Onto input: SOURCE morphed onto TARGET (each an Asset), written as
    `<source>_onto_<target>` (names as Asset gives them)."""

    def __init__(self, source, target):
        self.source, self.target = Asset(source), Asset(target)
        self.spec = f"{source} onto {target}"
        self.name = safe_name(f"{self.source.name}_onto_{self.target.name}")

    def outputs(self, out_dir, export):
        return outputs_of(self.name, out_dir, export)

    def same_input(self):
        """Whether SOURCE and TARGET name the same mesh (one file, the same object in it)."""
        return (same_file(self.source.path, self.target.path)
                and self.source.object_name == self.target.object_name)

    def record(self, export):
        """The RUN_KEY record of its output .blend: which inputs and export made it."""
        return json.dumps({"source": json.loads(self.source.record(None)),
                           "target": json.loads(self.target.record(None)), "export": export})


def outputs_of(name, out_dir, export):
    """The files an input named `name` writes: its export (if asked), then its .blend."""
    files = [out_dir / f"{name}.blend"]
    if export:
        files.insert(0, out_dir / f"{name}{EXPORT_SUFFIX[export]}")
    return files


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


def clean(exc):
    """The message of a Blender operator's RuntimeError (an importer's), on one line."""
    return " ".join(str(exc).replace("Error: ", "").split())


def reason(exc):
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else clean(exc)


def remove(path):
    try:
        if path.is_file() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


# -- earlier outputs and the output folder ---------------------------------------------------
def same_fit(earlier, asset, settings, export):
    """Whether an earlier output was fitted from this input with these settings (and holds
    the export asked for). `earlier` is (stored settings, figures, RUN_KEY record)."""
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


def overwritten_input(assets, out_dir, export, outputs=None):
    """(output, asset) when an output of this run would be one of the inputs, else None.
    `outputs`: the run's files besides report.json (default: each asset's outputs)."""
    if outputs is None:
        outputs = [f for a in assets for f in a.outputs(out_dir, export)]
    outputs = [out_dir / REPORT] + list(outputs)
    for asset in assets:
        for path in outputs:
            if same_file(asset.path, path):
                return path, asset
    return None


def same_file(a, b):
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
        return (f"cannot create the output folder {out_dir} ({reason(exc)}); choose another "
                f"--output.")
    try:
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".neural_morph_", suffix=PARTIAL):
            pass
    except OSError as exc:
        return (f"cannot write in the output folder {out_dir} ({reason(exc)}); choose another "
                f"--output.")
    return None


def remove_stale(out_dir, assets):
    """Remove what a killed run left: partly written files (see STALE), never an input."""
    try:
        found = list(out_dir.iterdir())
    except OSError:  # a folder one may write in but not list: nothing to find
        found = []
    for path in found:
        if path.name.endswith(STALE) and not any(same_file(a.path, path) for a in assets):
            remove(path)


# -- what the batch says and records ---------------------------------------------------------
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
    is printed once (with its reason) and makes the exit status 1, the batch goes on.
    `header` is what the report says above its entries (the command, Blender's version)."""

    def __init__(self, path, out_dir, header):
        self.path, self.out_dir, self.header, self.error = path, out_dir, header, None
        self.entries = {}
        for entry in read_entries(path):  # outputs found by name: --output may be relative
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
        report = dict(self.header, assets=list(self.entries.values()))
        partial = self.path.with_name(self.path.name + PARTIAL)
        try:
            partial.write_text(json.dumps(report, indent=2, default=plain) + "\n")
            os.replace(partial, self.path)
        except OSError as exc:
            remove(partial)
            if self.error is None:
                print(f"Neural Morph: cannot write {self.path} ({reason(exc)}); the lines above "
                      f"are the only record of this run.", flush=True)
            self.error = exc


def read_entries(path):
    """The asset entries of an earlier report ([] when there is none or it is unreadable)."""
    try:
        entries = json.loads(path.read_text()).get("assets", [])
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)
                and isinstance(e.get("outputs", []), list)
                and all(isinstance(p, str) for p in e.get("outputs", []))]
    except (OSError, ValueError, AttributeError):
        return []


def plain(value):
    """JSON for Blender's ID property values (IDPropertyArray and the like)."""
    try:
        return value.to_list()
    except AttributeError:
        return str(value)

"""Fit settings, their limits and their validation: the one home for every number a user
can set. Imports neither torch nor bpy, so the Blender properties, the console API and the
fit all read the same defaults and limits from here.

A new user-facing setting: a field on FitSettings, its limits below, a check in
`FitSettings.validate`, and (for the panel) an entry in USER_SETTINGS.
"""
import dataclasses
import numbers

# -- limits (inclusive) -------------------------------------------------------------------
MIN_ITERATIONS, MAX_ITERATIONS = 1, 100_000
MIN_POINTS, MAX_POINTS = 16, 65_536
MIN_TARGET_SAMPLES, MAX_TARGET_SAMPLES = 1_000, 2_000_000
MIN_TARGET_BATCH, MAX_TARGET_BATCH = 16, 65_536
MIN_WIDTH, MAX_WIDTH = 4, 1024
MIN_DEPTH, MAX_DEPTH = 1, 16
MIN_STEPS, MAX_STEPS = 1, 256
MAX_LEARNING_RATE = 1.0          # learning rate must lie in (0, MAX_LEARNING_RATE]
MIN_LEVEL, MAX_LEVEL = 0, 7      # icosphere levels of an output mesh (7: 163,842 vertices)
MIN_KEYS, MAX_KEYS = 2, 256      # shape keys made by animate / morph_between
MAX_SEED = 2**31 - 1             # seeds are 0 .. MAX_SEED (a Blender IntProperty's range)
MIN_TARGET_POINTS = 16           # fewest target points a fit accepts (its radial profile uses 16)
MAX_GRIDS, MIN_GRID, MAX_GRID, MAX_CHANNELS = 4, 2, 128, 64  # feature grids of the field
NORMALIZATIONS = ("affine", "similarity")  # how a target is put into the unit ball
PARTS = ("separate", "one")      # a sphere per separate piece of the target, or one for all

# soft limits: where the Blender sliders stop (typing can go up to the hard limits)
SOFT_MAX_ITERATIONS = 5_000
SOFT_MIN_LEARNING_RATE, SOFT_MAX_LEARNING_RATE = 1e-5, 0.1
SOFT_MAX_STEPS = 64
SOFT_MAX_BEAM_WEIGHT = 2.0       # Gap Pull's slider (losses.beam)
SOFT_MAX_INSIDE_WEIGHT = 1.0     # Inside Pull's slider (losses.inside)

# -- defaults that are not FitSettings fields ---------------------------------------------
DEFAULT_KEYS = 8                 # shape keys along an animation
PREVIEW_LEVEL = 3                # icosphere level of the live preview during a UI fit
TRAJECTORY_LEVEL = 4             # default level of api.trajectory
WARM_START_SHARE = 4             # warm start takes at most 1/4 of the iterations

# Solvers: torchdiffeq method name -> "fixed" (takes `steps` steps per unit time) or
# "adaptive" (step size chosen by rtol/atol; `steps` is ignored). Nothing else is accepted.
SOLVERS = {
    "euler": "fixed", "midpoint": "fixed", "heun2": "fixed", "heun3": "fixed", "rk4": "fixed",
    "explicit_adams": "fixed", "implicit_adams": "fixed", "fixed_adams": "fixed",
    "dopri5": "adaptive", "dopri8": "adaptive", "bosh3": "adaptive", "fehlberg2": "adaptive",
    "adaptive_heun": "adaptive",
}


@dataclasses.dataclass
class FitSettings:
    """Everything that decides a fit. Defaults suit a laptop CPU (well under a minute on 2 cores)."""
    iterations: int = 400          # optimiser steps (fixed schedule, never a wall-clock stop)
    points: int = 1024             # sphere points flowed per iteration
    target_samples: int = 100_000  # dense target samples the loss measures against
    target_batch: int = 2048       # target samples per iteration for the target→model term
    grid_sizes: tuple = (8, 16, 32)  # feature grids (cells per side) feeding the field's MLP
    grid_channels: int = 8         # feature channels per grid
    width: int = 64                # hidden width of the velocity field's MLP
    depth: int = 2                 # residual layers of that MLP
    method: str = "rk4"            # torchdiffeq method, a key of SOLVERS
    steps: int = 16                # solver steps from t=0 to t=1 for every output
    train_steps: int = 2           # solver steps per training iteration (at jittered times)
    time_jitter: float = 0.2       # training's inner time nodes move by up to this (0: fixed grid)
    adjoint: bool = False          # adjoint backprop (less memory, slower)
    learning_rate: float = 1e-2    # one-cycle peak learning rate
    grid_lr_scale: float = 3.0     # the feature grids learn this many times faster
    warm_start: int = 50           # iterations regressing the sphere onto the radial profile
    loss: str = "distance"         # Chamfer on "distance" (robust) or "squared" distances
    stretch_sampling: float = 1.0  # share of free sphere samples drawn by flowed area
    outside_weight: float = 0.5    # push flowed points beyond the target inward along their normals
    outside_margin: float = 0.01   # how far beyond the target (normalised units) a point must be
    # pull points off the target along -n to where their ray meets it (losses.beam), and
    # lead the surface into parts of the target it has not reached (losses.inside). On by
    # default together (2026-12-07): each makes up for the other's loss (alone, Gap Pull
    # webs letters and Inside Pull hangs a cloth between a table's legs). Over three seeds
    # F@0.5% the table 0.705 -> 0.919, the text 0.891 -> 0.942, the comb 0.596 -> 0.668;
    # the other targets within a draw's noise (README, "Held-out shapes", "Both pulls")
    beam_weight: float = 1.0
    inside_weight: float = 0.2
    shape_weight: float = 3e-3     # triangle-shape regulariser on a flowed level-3 icosphere
    kinetic_weight: float = 3e-3   # kinetic energy ∫ |f|² dt: straighter, gentler paths
    jacobian_weight: float = 1e-2  # penalty on the field's stretch rate above `lipschitz`
    lipschitz: float = 2.0         # stretch rate |∂f/∂x·d| the Jacobian term tolerates
    jacobian_points: int = 256     # points along the paths where the Jacobian term probes
    normalization: str = "affine"  # "affine": principal axes scaled apart; "similarity": one scale
    parts: str = "separate"        # "separate": one sphere per separate piece; "one": one sphere
    snap: bool = True              # last step: outputs move along their normals onto the target
    untangle: bool = True          # pull self-intersecting regions back along their paths
    seed: int = 0
    resolution: int = 5            # icosphere level of the output mesh
    device: str = "cpu"

    def validate(self):
        """Raise ValueError with a sentence for settings that make no sense."""
        checks = [
            (MIN_ITERATIONS <= self.iterations <= MAX_ITERATIONS,
             f"Iterations must be between {MIN_ITERATIONS:,} and {MAX_ITERATIONS:,}."),
            (MIN_POINTS <= self.points <= MAX_POINTS,
             f"Points per iteration must be between {MIN_POINTS:,} and {MAX_POINTS:,}."),
            (MIN_TARGET_SAMPLES <= self.target_samples <= MAX_TARGET_SAMPLES,
             f"Target samples must be between {MIN_TARGET_SAMPLES:,} and {MAX_TARGET_SAMPLES:,}."),
            (MIN_TARGET_BATCH <= self.target_batch <= MAX_TARGET_BATCH,
             f"Target batch must be between {MIN_TARGET_BATCH:,} and {MAX_TARGET_BATCH:,}."),
            (MIN_WIDTH <= self.width <= MAX_WIDTH,
             f"Field width must be between {MIN_WIDTH} and {MAX_WIDTH}."),
            (MIN_DEPTH <= self.depth <= MAX_DEPTH,
             f"Field depth must be between {MIN_DEPTH} and {MAX_DEPTH}."),
            (self.method in SOLVERS,
             f"Solver method must be one of {', '.join(SOLVERS)}."),
            (MIN_STEPS <= self.steps <= MAX_STEPS,
             f"Solver steps must be between {MIN_STEPS} and {MAX_STEPS}."),
            (0 < self.learning_rate <= MAX_LEARNING_RATE,
             f"Learning rate must be in (0, {MAX_LEARNING_RATE:g}]."),
            (0 <= self.warm_start <= self.iterations,
             "Warm-start iterations must be between 0 and the iteration count."),
            (self.loss in ("distance", "squared"), "Loss must be 'distance' or 'squared'."),
            (0 <= self.stretch_sampling <= 1, "Stretch sampling must be between 0 and 1."),
            (self.shape_weight >= 0 and self.kinetic_weight >= 0 and self.outside_weight >= 0,
             "Regulariser weights must not be negative."),
            (0 <= self.beam_weight < float("inf"),  # NaN fails too
             "Gap Pull must be a number of at least 0: 0 turns it off."),
            (0 <= self.inside_weight < float("inf"),
             "Inside Pull must be a number of at least 0: 0 turns it off."),
            (self.outside_margin >= 0, "The outside margin must not be negative."),
            (MIN_LEVEL <= self.resolution <= MAX_LEVEL, LEVEL_MESSAGE),
            (MIN_STEPS <= self.train_steps <= MAX_STEPS,
             f"Training solver steps must be between {MIN_STEPS} and {MAX_STEPS}."),
            (0 <= self.time_jitter < 0.5, "Time jitter must be at least 0 and below 0.5."),
            (len(self.grid_sizes) <= MAX_GRIDS and all(MIN_GRID <= n <= MAX_GRID for n in self.grid_sizes),
             f"Feature grids must be at most {MAX_GRIDS}, each {MIN_GRID} to {MAX_GRID} cells per side."),
            (1 <= self.grid_channels <= MAX_CHANNELS,
             f"Grid channels must be between 1 and {MAX_CHANNELS}."),
            (0 < self.grid_lr_scale <= 100, "The grids' learning-rate scale must be in (0, 100]."),
            (self.jacobian_weight >= 0 and self.lipschitz > 0 and self.jacobian_points >= 1,
             "The Jacobian term needs a weight of at least 0, a positive Lipschitz bound and at "
             "least one probe point."),
            (isinstance(self.seed, numbers.Integral) and 0 <= self.seed <= MAX_SEED,
             f"Seed must be a whole number between 0 and {MAX_SEED:,}."),
            (self.normalization in NORMALIZATIONS,
             f"Normalization must be one of {', '.join(NORMALIZATIONS)}."),
            (self.parts in PARTS, f"Parts must be one of {', '.join(PARTS)}."),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self


LEVEL_MESSAGE = f"Resolution (icosphere level) must be between {MIN_LEVEL} and {MAX_LEVEL}."
_FIELDS = {f.name for f in dataclasses.fields(FitSettings)}


def check_level(level):
    """Raise ValueError unless `level` is an output icosphere level."""
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise ValueError(LEVEL_MESSAGE)
    return level


KEYS_MESSAGE = f"Keys must be between {MIN_KEYS} and {MAX_KEYS} (both ends of the morph are keys)."


def check_keys(keys):
    """Raise ValueError unless `keys` is a shape-key count animate and morph_between accept."""
    if not MIN_KEYS <= keys <= MAX_KEYS:
        raise ValueError(KEYS_MESSAGE)
    return keys


def user_settings(**user):
    """Validated FitSettings from user-facing settings (iterations, resolution, points,
    learning_rate, steps, seed, device, or any other FitSettings field).

    The one place that derives what the user does not set: `warm_start` takes at most a
    quarter of the iterations. Both the operator and the console API come through here.
    Raises ValueError with a sentence.
    """
    unknown = sorted(set(user) - _FIELDS)
    if unknown:
        raise ValueError(f"Unknown fit setting(s): {', '.join(unknown)}.")
    values = dict(user)
    iterations = values.get("iterations", FitSettings.iterations)
    values.setdefault("warm_start", min(FitSettings.warm_start, max(iterations, 0) // WARM_START_SHARE))
    if "grid_sizes" in values:
        values["grid_sizes"] = tuple(int(n) for n in values["grid_sizes"])
    return FitSettings(**values).validate()


# The settings a user sees (panel, operator, API): name -> (label, description). Their
# defaults are FitSettings', their soft limits the constants above (blender/props.py).
USER_SETTINGS = {
    "iterations": ("Iterations", "Optimiser steps. The schedule is fixed, so a seed reproduces a result"),
    "resolution": ("Resolution",
                   f"Icosphere subdivision level of the output ({FitSettings.resolution}: "
                   f"{10 * 4 ** FitSettings.resolution + 2:,} vertices). The output keeps this "
                   "level; regions that would self-intersect are pulled back along their paths"),
    "points": ("Points", "Sphere points flowed per iteration"),
    "learning_rate": ("Learning Rate", "Peak learning rate of the one-cycle Adam schedule"),
    "steps": ("Solver Steps", "RK4 steps from the sphere (t=0) to the shape (t=1) for every output. "
              "Training uses fewer steps at random times, so the field is a true ODE"),
    "normalization": ("Normalization",
                      "How the target is put into the unit ball before the fit. Affine: each "
                      "principal axis scaled to the same extent, best for most shapes and for "
                      "flat or long ones. Similarity: one scale, proportions kept; try it when "
                      "Affine leaves thin parts short (a flat top on thin legs)"),
    "parts": ("Parts",
              "Separate: every separate piece of the target (letters of a text, the parts of a "
              "prop) gets its own sphere, so pieces never merge into one blob; pieces that touch "
              "or cross count as one. One: a single sphere wraps everything"),
    "beam_weight": ("Gap Pull",
                    "Pull membranes that span deep gaps (a cloth between a table's legs) up "
                    "into them. With Inside Pull it frees thin legs; alone it can web the "
                    "arches and notches of letters. 0: off"),
    "inside_weight": ("Inside Pull",
                      "Lead the surface into parts of the target it has not reached (a comb's "
                      "teeth, the strokes of letters): points just inside the target that the "
                      "flow carries back outside the sphere pull on the flow. With Gap Pull it "
                      "keeps a table's legs free; alone it can web them. 0: off"),
    "seed": ("Seed", "Random seed of the fit"),
}
# user settings that take one of a few names (the panel shows a menu, the command line checks)
USER_CHOICES = {"normalization": NORMALIZATIONS, "parts": PARTS}
# the user settings Morph Onto offers (operator, API, command line): its output is the
# source's own mesh (no resolution), one flow carries the whole space (no parts), and a
# mesh source has no outside, beam or inside term (training.py)
ONTO_SETTINGS = tuple(name for name in USER_SETTINGS
                      if name not in ("resolution", "parts", "beam_weight", "inside_weight"))

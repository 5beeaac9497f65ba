"""Fit presets: name -> values of the fit operator's settings. No bpy, no torch.

`Default` is the settings' own defaults, read from FitSettings, so it cannot drift from
the operator. Draft and Detailed change only what they need to:

- **Draft**: a quick look in about 5 s on 2 cores (level 3: a coarse but recognisable shape).
- **Default**: the operator defaults, under a minute on 2 CPU cores.
- **Detailed**: for an overnight batch (about 2.5 minutes per asset on 2 cores, level 6).

The seed is no part of a preset: applying one never changes which result a seed gives
beyond the settings it names.
"""
import dataclasses

from .settings import USER_SETTINGS, FitSettings

# The fit settings a preset sets, in panel order: the user settings minus the seed.
PRESET_SETTINGS = tuple(name for name in USER_SETTINGS if name != "seed")

# What Draft and Detailed change relative to the defaults.
_CHANGES = {
    "Draft": {"iterations": 100, "points": 256, "resolution": 3},
    "Default": {},
    "Detailed": {"iterations": 2000, "points": 2048, "resolution": 6},
}


def defaults():
    """{setting: default} for PRESET_SETTINGS, from FitSettings (the one settings home)."""
    return {f.name: f.default for f in dataclasses.fields(FitSettings) if f.name in PRESET_SETTINGS}


def presets():
    """{preset name: {setting: value}} for every bundled preset, in menu order."""
    base = defaults()
    return {name: {**base, **changes} for name, changes in _CHANGES.items()}


def preset(name):
    """The values of one preset; ValueError naming the presets for an unknown name."""
    table = presets()
    for key in table:
        if key.lower() == str(name).lower():
            return table[key]
    raise ValueError(f"Unknown preset '{name}': choose one of {', '.join(table)}.")

"""Blender glue, not operators: reading targets and writing results (data), optional
dependencies (deps), property definitions (props), preferences lookup (prefs), the
running fit (jobs) and the command line `blender -c neural_morph` (cli; its bpy-free
half is commandline.py). Imports bpy, core and commandline; never operators or ui."""

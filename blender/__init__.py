"""Blender glue, not operators: reading targets and writing results (data), optional
dependencies (deps), property definitions (props), preferences lookup (prefs) and the
running fit (jobs). Imports bpy and core; never operators or ui."""

"""The pluggy host: hookspecs, plugin manager, config loading and the plugin graph.

Arrives with `netscript up` (issue 5); the package exists so the layout is fixed.
"""

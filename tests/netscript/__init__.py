"""Tests of the netscript facade package: its names, the CLI, the service helpers, the guard."""

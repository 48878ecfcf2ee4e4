"""Tests of the workers plugin."""

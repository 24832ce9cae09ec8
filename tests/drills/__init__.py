"""Fault drills: real components broken for real (see conftest.py)."""

"""Tests of the project package: errors, numbering, pagination, settings, the admin..."""

"""Torch networks of the method, one file each (no Qt, no file I/O)."""

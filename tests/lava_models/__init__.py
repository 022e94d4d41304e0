"""Lava process models used only by tests.

Kept in their own folder because Lava's compiler imports every module in the folder of a
Process's module while it searches for process models.
"""

"""Example modules of the workstation's plugin framework (imported in the worker only)."""

"""PySide6 widgets: thin views that bind to the core scene and call its commands.

Nothing here is imported at package import: each widget module pulls in Qt (and VTK) itself.
"""

"""A desktop radiology workstation: DICOM viewer, expert AI modules, PACS access, collaboration."""

__version__ = "0.1.0"

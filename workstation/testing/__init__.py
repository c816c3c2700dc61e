"""Test data made by code: synthetic DICOM factories, anatomical phantoms and the demo studies.

Import from :mod:`workstation.testing.factories` (DICOM writers), :mod:`.phantoms` (numpy
volumes) and :mod:`.demo`; nothing here is imported at application start.
"""

"""vplc: compile VPL stream-processing programs to standalone Python modules."""

__version__ = "0.1.0"

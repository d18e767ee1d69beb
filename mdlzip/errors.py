"""The one exception type the library raises for bad input and failed checks.

Its message is a single line meant for the user; the CLI prints it as
``mdlzip: FILE: message`` and exits 1.
"""


class MdlzipError(Exception):
    """A corrupt or unsupported archive, an invalid option, or a failed integrity check."""

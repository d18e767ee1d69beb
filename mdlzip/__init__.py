"""mdlzip: lossless compression by minimum description length.

    >>> import mdlzip
    >>> archive = mdlzip.compress(b"some bytes")
    >>> mdlzip.decompress(archive)
    b'some bytes'
"""

from .api import compress, decompress, info, verify
from .errors import MdlzipError

__all__ = ["compress", "decompress", "info", "verify", "MdlzipError"]

"""``python -m benchmarks.images OUTDIR``: four whole raw images, for the side models' image model.

The pictures ship in scikit-image 0.19.3 (Debian 12's ``python3-skimage``, the
package ``benchmarks.kinds`` cuts ``image.ppm`` from), decoded by ``benchmarks.png``
and written whole, in the two raw formats whose headers the image model reads:

- ``astronaut.ppm``: a photo, 512 x 512 RGB, as a binary PPM (786,447 bytes).
- ``camera.pgm``: a photo, 512 x 512 grey, as a binary PGM (262,159 bytes).
- ``chelsea.bmp``: the photo of the kinds set (451 x 300 RGB) whole, as a 24-bit
  BMP: rows bottom to top, padded to 1,356 bytes (406,854 bytes).
- ``coins.bmp``: a photo, 384 x 303 grey, as an 8-bit BMP with a grey palette
  (117,430 bytes).

The .deb and every file written are checked against pinned SHA-256s, as in
``benchmarks.kinds``.
"""

from __future__ import annotations

import sys
from typing import Optional

from benchmarks import png
from benchmarks.data import cli
from benchmarks.kinds import SKIMAGE, Kind, build, fetch

DATA = "usr/lib/python3/dist-packages/skimage/data/"
IMAGES = {
    "astronaut.ppm": Kind(SKIMAGE, DATA + "astronaut.png", "07b5a5bf3b50328f1fa86ed445d32031588049d28add8eacaa382f683c933b07", decode=png.to_pnm),
    "camera.pgm": Kind(SKIMAGE, DATA + "camera.png", "4b96b14e4109a9658060595334308437b37f9e50b041b8470325062df7bbb6e0", decode=png.to_pnm),
    "chelsea.bmp": Kind(SKIMAGE, DATA + "chelsea.png", "ffa580b7b11aa301f93ea292cceae45ca1b724a4a449baf727fc918459447201", decode=png.to_bmp),
    "coins.bmp": Kind(SKIMAGE, DATA + "coins.png", "49184524b1535cf4c397b440ebdac4d123cfc5f67536ec8b383b89b78425e416", decode=png.to_bmp),
}
SIZES = {"astronaut.ppm": 786_447, "camera.pgm": 262_159, "chelsea.bmp": 406_854, "coins.bmp": 117_430}


def main(argv: Optional[list[str]] = None) -> int:
    return cli("benchmarks.images", argv, SIZES, lambda tmp, folder: build(fetch(tmp, IMAGES), folder, IMAGES, size=None))


if __name__ == "__main__":
    sys.exit(main())

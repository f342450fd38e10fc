"""``usanimator info PATH``: describe a clip as one JSON line.

Example::

    $ usanimator info clip.mp4
    {"kind": "video", "frames": 151, "width": 260, "height": 260, "fps": 25.0,
     "pixel_spacing_mm": null, "modality": null, "photometric": null}

(printed on a single line). Exit code 0; a file the app cannot read gives exit code 2 and one line
on stderr naming the file and the problem.
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a clip (DICOM, video, image or folder of images) as one JSON line",
        description="Print the kind, frame count, size, frame rate, pixel spacing (x, y in mm), "
        "modality and photometric interpretation of a clip as one JSON line.",
    )
    parser.add_argument("path", help="a DICOM file, MP4/MOV/AVI/MPEG/GIF video, PNG/JPEG/BMP/TIFF image or folder of images")


def run(args: argparse.Namespace) -> int:
    from usanimator_app.core.media import open_media

    source = open_media(args.path)
    print(json.dumps(source.info.as_dict()))
    return 0

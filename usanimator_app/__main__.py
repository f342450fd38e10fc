"""``python -m usanimator_app`` is the same as the ``usanimator`` command."""

import sys

from usanimator_app.cli import main

sys.exit(main())

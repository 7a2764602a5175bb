"""``python -m scratch`` is the ``scratchnet`` command."""

import sys

from scratch.cli import main

sys.exit(main())

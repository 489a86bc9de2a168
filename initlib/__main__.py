"""``python -m initlib propagate|train ...``: see :mod:`initlib.cli`."""

import sys

from .cli import main

sys.exit(main())

"""``python -m shipyard``: the same as the ``shipyard`` console script."""

import sys

from shipyard._cli import main

sys.exit(main())

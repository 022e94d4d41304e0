"""``python -m tks_lava.data --dataset ndigits --prepare``: see ``tks_lava.data.cli``."""

import sys

from tks_lava.data.cli import main

sys.exit(main())

"""tks_lava: Temporal Knowledge Sharing SNNs trained with SLAYER, deployed with Lava."""

from tks_lava import _moved
from tks_lava import compat as _compat

_compat.install()
_moved.install()

__version__ = "0.1.0"

"""Scores of per-step logits: accuracy and early exit, paired tests, SynOps, and their figures.

``from tks_lava import metrics`` gives the accuracy functions of :mod:`.accuracy` (numpy only);
:mod:`.stats` (paired tests), :mod:`.synops` (synaptic operations) and :mod:`.plots`
(matplotlib) are imported on their own.
"""

from tks_lava.metrics.accuracy import *  # noqa: F403
from tks_lava.metrics.accuracy import __all__  # noqa: F401

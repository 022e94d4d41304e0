"""Benchmarks of tks_lava (``make bench`` / ``python -m benchmarks``); see README.md.

:mod:`benchmarks.sections` is the table of sections: ``bench_X`` measures section ``X``
(training loss cost, data binning vs. frame cache, Lava vs. PyTorch, Lava process models,
early exit and SynOps, early exit inside Lava) and ``render_X`` reports it; :mod:`.render`
assembles ``summary.json`` and ``BENCHMARKS.md``. Helpers: :mod:`.timing` (repeats, paired
ratios), :mod:`.formatting`, :mod:`.count_synops` (SynOps of a SLAYER model), :mod:`.machine`,
:mod:`.estimate` (full-run time from a quick run), :mod:`.shipped_models`.
"""

"""Benchmarks of tks_lava (``make bench`` / ``python -m benchmarks.run``); see README.md.

Sections: ``bench_train`` (loss cost in training), ``bench_data`` (binning vs. frame cache),
``bench_lava`` (Lava CPU simulation vs. PyTorch), ``bench_early_exit`` (accuracy vs. steps and
synaptic operations, :mod:`benchmarks.synops`). Pure helpers: :mod:`benchmarks.stats`,
:mod:`benchmarks.report`, :mod:`benchmarks.render`.
"""

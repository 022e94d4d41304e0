"""The TKS-vs-baselines study (``make study``): seeds x methods on ndigits, paired tests.

Runs are trained and selected without the test split, evaluated under both protocols and
compared with paired tests."""

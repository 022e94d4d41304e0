"""The TKS-vs-baselines study: seeds x methods on ndigits, trained and selected without the
test split, evaluated under both protocols, compared with paired tests (``make study``)."""

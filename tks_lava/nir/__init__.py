"""NIR (Neuromorphic Intermediate Representation, ``nir`` on PyPI) out and in.

* :mod:`.export`: a trained model (card + ``.pt``) as a NIR graph (``python -m tks_lava.nir
  export MODEL OUT.nir``): Conv2d / SumPool2d / Linear + CubaLIF per block, a memoryless CubaLI
  readout, dt and the fixed-point scales in the metadata.
* :mod:`.graph` (a graph as a chain of blocks, or a clear error naming the node),
  :mod:`.quantize` (onto Loihi's grids, with a report) and :mod:`.convert` (a SLAYER model, its
  NetX ``.net``, ``.pt`` and card): a NIR graph from here or from another framework in Lava
  (``python -m tks_lava.run_netx --model X.nir``).
* :mod:`.params`: fixed-point CUBA <-> continuous-time parameters (pure functions).
* :mod:`.simulate`: the graph run by independent simulators (snnTorch's ``import_from_nir``)
  and by a float reference of NIR's equations, for the cross-simulator figures.

Sits beside ``model/``: it imports ``model/`` and ``data/``; nothing in ``model/`` imports it,
and ``deploy/`` calls it lazily, only to turn a ``.nir`` into a card.
"""

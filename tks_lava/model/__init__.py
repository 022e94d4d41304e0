"""The model step: architectures, the SLAYER network, its card, and the NetX export.

Data flows in from :mod:`tks_lava.data` (frames) and out to :mod:`tks_lava.deploy` (a NetX
``.net`` file and its card). Nothing here imports training or Lava.
"""

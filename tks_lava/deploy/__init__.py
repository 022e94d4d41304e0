"""The Lava half: run a NetX ``.net`` file in Lava and read out per-step logits.

- :mod:`.session`: a Lava runtime that always stops, with child tracebacks surfaced;
- :mod:`.window`: the fixed-window run (every sample for T steps), in parallel runtimes;
- :mod:`.early_exit`: early exit inside Lava (a controller process stops each sample);
- :mod:`.netx_eval`: a model card's test split through Lava, with PyTorch parity;
- :mod:`.recording`: one raw event recording through Lava;
- :mod:`.adapters`, :mod:`.process_models`, :mod:`.loihi2`: Lava Processes and ProcessModels.
  They stay folders of their own because Lava's compiler imports every module in a Process's
  folder when it looks for models.
"""

"""Model selection never looks at the test split: the validation split, the selection rule,
and a run whose test labels are scrambled choosing and exporting exactly the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tks_lava import training
from tks_lava.data import NDigitsParams, generate_ndigits
from tks_lava.training import resolve_config, train, validation_split


def test_validation_split_by_hand():
    labels = np.array([0] * 10 + [1] * 4)
    fit, val = validation_split(labels, 0.25)
    # class 0: ceil(2.5) = 3 samples, class 1: ceil(1.0) = 1 sample
    assert (labels[val] == 0).sum() == 3 and (labels[val] == 1).sum() == 1
    assert sorted(np.concatenate([fit, val]).tolist()) == list(range(14))
    again = validation_split(labels, 0.25)
    assert np.array_equal(again[1], val)  # deterministic
    assert not np.array_equal(validation_split(labels, 0.25, seed=1)[1], val)


def test_validation_split_keeps_groups_whole():
    labels = np.array([0] * 9 + [1] * 9)
    groups = np.repeat(np.arange(6), 3)  # three variants of each source
    fit, val = validation_split(labels, 0.1, groups=groups)
    assert len(val) == 6  # ceil(0.9) = 1 sample wanted, one whole group of 3 per class
    assert set(groups[val]).isdisjoint(groups[fit])
    one_group = validation_split(np.zeros(3, int), 0.5, groups=np.zeros(3, int))
    assert one_group[1].size == 0  # a class with one group keeps it for training
    assert validation_split(labels, 0.0)[1].size == 0


TINY = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("sel")
    return {"root": generate_ndigits(base / "nd", TINY, workers=1, progress=False), "base": base}


def _config(tiny, name, **kw):
    return resolve_config(
        dataset="ndigits",
        model="tiny_snn",
        epochs=3,
        batch_size=8,
        lr=0.02,
        data_root=str(tiny["root"]),
        cache_dir=str(tiny["base"] / "cache"),
        out_dir=str(tiny["base"] / name),
        **kw,
    )


class _Counting(torch.utils.data.Dataset):
    """The test split with its labels replaced, counting every read."""

    def __init__(self, ds, labels):
        self.ds, self.labels, self.reads = ds, labels, 0

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        self.reads += 1
        return self.ds[i][0], int(self.labels[i])


@pytest.mark.parametrize("select", ["val", "last"])
def test_selection_never_reads_the_test_split(tiny, monkeypatch, select):
    """Scrambling the test labels changes the reported test accuracy only: the chosen epoch,
    the validation history and the exported weights are identical; the test split is read
    exactly once, by the exported model."""
    seen = []

    def load(config, progress=True, download=False, scramble=False):
        data = real_load(config, progress, download)
        labels = data.test_labels
        if scramble:
            labels = (labels + 1) % 3
        counted = _Counting(data.test, labels)
        seen.append(counted)
        return data._replace(test=counted, test_labels=labels)

    real_load = training.loop.load_data
    results = []
    for scramble in (False, True):
        monkeypatch.setattr(
            training.loop, "load_data", lambda c, p=True, d=False, s=scramble: load(c, p, d, s)
        )
        config = _config(tiny, f"{select}-{scramble}", select=select)
        results.append(train(config, progress=False, verbose=False))
    a, b = results
    assert a.best_epoch == b.best_epoch and (select != "last" or a.best_epoch == 3)
    assert [r["val_cumulative"] for r in a.history] == [r["val_cumulative"] for r in b.history]
    wa = torch.load(a.paths["weights"], weights_only=False)["state_dict"]
    wb = torch.load(b.paths["weights"], weights_only=False)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [c.reads for c in seen] == [len(seen[0])] * 2  # one pass each, after training
    la, lb = (np.load(r.paths["test_logits"])["labels"] for r in results)
    assert np.array_equal((la + 1) % 3, lb)  # the scrambled labels did reach the test pass

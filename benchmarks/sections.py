"""The benchmark sections: the one table that the runner (``python -m benchmarks``) and the
renderer (:mod:`benchmarks.render`) read.

A section ``X`` is ``bench_X.py`` (measures: ``run(settings, ctx) -> results``, imported only
when the section runs), ``render_X.py`` (reports: ``summary``, ``figures``, ``lines``, pure
functions of the section file) and one row of :data:`SECTIONS`. Adding a section is writing those
two modules and adding the row; the order of the rows is the run order and the order of the
sections in ``BENCHMARKS.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks import (
    estimate,
    render_data,
    render_ddp,
    render_early_exit,
    render_feed,
    render_kernels,
    render_lava,
    render_lava_exit,
    render_lava_speed,
    render_nir,
    render_train,
)
from benchmarks.formatting import Page, Section
from benchmarks.settings import Settings


class Renderer(Protocol):
    """What a ``render_X`` module provides (pure functions of dicts)."""

    def summary(self, sec: Section | None) -> dict[str, Any]:
        """The section's ``summary.json`` keys (None values when the section has no file)."""

    def figures(self, summary: dict[str, Any]) -> list[list[str]]:
        """The section's rows of the Summary table: ``[label, formatted value, summary key]``."""

    def lines(self, sec: Section, page: Page | None = None) -> list[str]:
        """The section's Markdown under its heading (``page`` makes links relative)."""


@dataclass(frozen=True)
class SectionSpec:
    """One benchmark section.

    ``summary_rank`` orders the sections' rows in the Summary table (the headline costs first,
    the data loading last); ``estimate`` gives the full run's seconds from a quick run's section
    file (None: not estimated).
    """

    name: str
    title: str
    bench: str
    render: Renderer
    summary_rank: int
    estimate: Callable[[Section, Settings, int], float] | None = None


SECTIONS: dict[str, SectionSpec] = {
    s.name: s
    for s in (
        SectionSpec(
            "train",
            "Training throughput",
            "benchmarks.bench_train",
            render_train,
            summary_rank=0,
            estimate=estimate.train_seconds,
        ),
        SectionSpec(
            "kernels",
            "Neuron kernels and the vgg_snn training step on the CPU",
            "benchmarks.bench_kernels",
            render_kernels,
            summary_rank=0,
            estimate=estimate.kernels_seconds,
        ),
        SectionSpec(
            "ddp",
            "Distributed training: 2 gloo processes vs. 1",
            "benchmarks.bench_ddp",
            render_ddp,
            summary_rank=0,
            estimate=estimate.ddp_seconds,
        ),
        SectionSpec(
            "data",
            "Data: binning vs. frame cache",
            "benchmarks.bench_data",
            render_data,
            summary_rank=9,
            estimate=estimate.data_seconds,
        ),
        SectionSpec(
            "feed",
            "Data feeding: the training DataLoader over cached frames",
            "benchmarks.bench_feed",
            render_feed,
            summary_rank=9,
            estimate=estimate.feed_seconds,
        ),
        SectionSpec(
            "lava",
            "Deployment: Lava CPU simulation vs. PyTorch",
            "benchmarks.bench_lava",
            render_lava,
            summary_rank=1,
            estimate=estimate.lava_seconds,
        ),
        SectionSpec(
            "lava_speed",
            "Lava speed: fast vs. stock process models, parallel runtimes",
            "benchmarks.bench_lava_speed",
            render_lava_speed,
            summary_rank=2,
        ),
        SectionSpec(
            "early_exit",
            "Early exit and synaptic operations",
            "benchmarks.bench_early_exit",
            render_early_exit,
            summary_rank=4,
            estimate=estimate.early_exit_seconds,
        ),
        SectionSpec(
            "lava_exit",
            "Early exit inside Lava",
            "benchmarks.bench_lava_exit",
            render_lava_exit,
            summary_rank=3,
            estimate=estimate.lava_exit_seconds,
        ),
        SectionSpec(
            "nir",
            "NIR out and in: round trip and snnTorch",
            "benchmarks.bench_nir",
            render_nir,
            summary_rank=5,
        ),
    )
}

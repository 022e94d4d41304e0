"""The ablation study's pre-registered comparisons (issue 23), fixed before its runs started.

:data:`ABLATION_PAIRS` and :data:`ABLATION_STEPS` are the confirmatory family; the text of
:data:`PREREGISTERED` is what STUDY.md quotes. Changing either after the runs started would
void the pre-registration: add new comparisons as exploratory instead.
"""

from __future__ import annotations

#: (TKS arm, its baseline under the same neuron and augmentation); Holm over all of them x t.
ABLATION_PAIRS = (
    ("tks-detach", "baseline"),
    ("tks-teacher-mean", "baseline"),
    ("tks-noteacher-skip", "baseline"),
    ("tks-notau2", "baseline"),
    ("tks-lif", "baseline-lif"),
    ("tks-aug", "baseline-aug"),
)
#: Steps t of the prefix protocol (running mean of the first t of T = 10 frames).
ABLATION_STEPS = (1, 3, 10)
#: The goal's margins: ahead at t = 1 by at least this (pp, mean over seeds) ...
AHEAD_AT_1_PP = 8.0
#: ... and the bootstrap interval's lower bound above this at t = 3 and t = 10 (pp).
NOT_BEHIND_PP = -1.0
#: Two-level bootstrap: replicates and the seed of its generator.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

PREREGISTERED = """\
Written before the ablation runs started; the comparisons are fixed in
`tks_lava/study/prereg.py` at the same commit.

- **Question.** Which component of TKS causes its loss against the baseline after three frames
  (prefix t = 3), while it gains at the first frame? Candidates: the teacher is not detached
  (`tks-detach`), the teacher is the *sum* of the correct steps (`tks-teacher-mean`), samples
  without a correct step get a uniform teacher (`tks-noteacher-skip`), the tau^2 factor
  (`tks-notau2`), and our CUBA neuron and lack of augmentation (`tks-lif` vs `baseline-lif`,
  `tks-aug` vs `baseline-aug`, augmentation = random crop, horizontal flip, rotation).
- **Runs.** Every arm 3 seeds (0, 1, 2), small_snn, 12 epochs, the main grid's budget and
  selection (best validation epoch); the main grid (baseline, tks, tet) is re-trained on the
  same code, so every compared arm comes from one commit's training code.
- **Confirmatory family** (Holm over its 18 tests): each of `tks-detach`, `tks-teacher-mean`,
  `tks-noteacher-skip`, `tks-notau2` vs `baseline`; `tks-lif` vs `baseline-lif`; `tks-aug` vs
  `baseline-aug`; prefix protocol, t in {1, 3, 10}. The main family (tks vs baseline, tks vs
  tet) stays as before.
- **Tests.** Per pair and t: the seed-stratified CMH p (Holm-corrected) and a two-level
  bootstrap 95% percentile interval of the accuracy difference A - B (2000 replicates, seed 0;
  each replicate redraws the 510 test samples with replacement and, independently, the seeds
  with replacement, because the same test samples recur in every seed and a seed is one
  trained network shared by all samples).
- **Rule for a claim.** "A better" / "B better" where every seed agrees in sign and the Holm
  CMH p < 0.05 (as in the main family); "not behind" where the bootstrap interval's lower
  bound is above -1 pp.
- **Goal.** A TKS recipe ahead of its baseline at t = 1 (a claim, and >= +8 pp) and not behind
  it at t = 3 and t = 10 (bootstrap lower bound above -1 pp). An ablation that reaches this
  answers "which component causes the t = 3 loss"; if none does, the answer is a documented
  negative with the numbers below.
- **Exploratory.** A "best combination" arm chosen after the first results, and every
  comparison not listed above, are reported as exploratory, never as confirmatory.
"""

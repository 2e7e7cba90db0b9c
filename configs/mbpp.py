r"""SoftSRV on MBPP: learn to generate MBPP-style programming questions (x = the question text).

Command (the main job):
  python launch/train.py --config=configs/mbpp.py --workdir=workdirs/mbpp

Default (CPU) preset: SS_MC, t=16 soft tokens, x up to 32 Gemma tokens (3 of 374 longer questions skipped; 16
held out), batch 8, 150 Adam steps at lr 3e-3 (10 warmup, cosine), frozen H = embedded Gemma 3 270M, E = mean of
SmolLM2-135M's last-block states. Runtime: 7 minutes on 2 idle CPU cores (measured: 20 s of setup incl. the E pass,
then ~2.6 s/step).
Expected: held-out loss 3.87 -> 1.93 at step 30 -> 1.72 at step 90 -> 1.63 at step 150 nats/token; see loss.png.
Then `python launch/generate.py --config=configs/mbpp.py` samples generate.num_samples new questions.

The whole data pipeline, `python launch/pipeline.py --config=configs/mbpp.py --workdir=workdirs/pipeline-mbpp`
(train -> generate 384 -> postprocess to N_s=192 -> answer with SmolLM2 -> MAUVE vs the train and test folds), measured
2026-12-02 on the 2-core CPU while three other jobs ran at lower priority (nice 10): ~16 minutes of stages on a quiet
machine, each measured: train 7 min (150 steps at 2.6 s/step idle; 10.4 min for SS_NP here under contention, 31 min
for SS_MC with the other jobs at equal priority), generate 2.3-2.6 min (384 items, 2.5-2.8 items/s, 44
tokens/s), postprocess 3 s, answer 3.9 min (192 questions), MAUVE 1.7 min. Result (summary.md; MAUVE on 192 vs 192
texts, 19 clusters: at this size the numbers run high, see the paper's 0.963 for train vs test):
  | questions | MAUVE vs train | vs test | held-out loss |      paper Table 4 (MBPP, vs test)
  | SS_MC     | 0.927          | 0.876   | 1.61          |      0.477
  | SS_NP     | 0.065          | 0.060   | 2.11          |      -
  | PT        | 0.019          | 0.015   | -             |      0.463
  | train     | -              | 0.981   | -             |      0.963
The PT row was rerun on 2026-12-07 with softsrv/templates.py holding Appendix C verbatim (`launch/pipeline.py
--config=configs/mbpp.py --config.pipeline.method=pt`; 1,616 s on 2 cores shared with other jobs, load 4-12: generate
864 s (39 calls of Figure 8, one train example each, temperature 1; 158 questions listed), postprocess 0.4 s (3 exact
duplicates; 155 kept, fewer than N_s = 192, so MAUVE is 155 vs 192 texts, 16 clusters), answer through Figure 9 662 s,
MAUVE 80 s). Before, with the reconstructed templates (three random shots per call, "1." items): PT 0.037 vs train /
0.022 vs test, 217 questions. SS_MC > SS_NP > PT agrees with the paper's order; the gap to PT is far larger here
because the 270M base model, given one example, mostly writes questions that are not programming tasks (train example
0, "the longest chain which can be formed from the given set of pairs", gives ten "List all possible arrangement of
chicken feathers / eggs"), and the verbatim templates widen it (sweeps/softsrv_table5_mbpp.py has the same at 96
generated).
Decontamination (13-gram overlap with the test fold) dropped 0 of 383 SS_MC, 0 of 379 SS_NP and 0 of 158 PT questions;
none of the kept questions of any method (192 SS_MC, 192 SS_NP, 155 PT) is a verbatim train question (whitespace-
normalised exact match). A.3 on the 155 answered PT records (question or answer against the test fold's questions and
reference answers, `stages/answer.json` `decontamination`) dropped 0 (paper: < 0.1%); the longest word run one shares
with the test fold is 11 ("... function to find the largest triangle that can be inscribed in ..." against the test
question "... inscribed in an ellipse."), the next 8.

Presets (after a colon, comma-separated): paper (t=128, 20K steps, lr 5e-6, SS_MC 3x128, k=2), np | mp2 | mc
(the variant), e.g. `--config=configs/mbpp.py:paper,mp2`. Fields override: `--config.train.steps=50`,
`--config.data.data_dir=/path/to/data`.
"""
from softsrv.config import get_config as _get_config


def get_config(arg=None):
  return _get_config("mbpp", arg)

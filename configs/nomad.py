r"""NOMAD teacher: fine-tune a pretrained LM on "User: ... Assistant: ..." conversations without prompt masking.

Command (the teacher stage; generation from "User: ", filtering, NormSim and the student are separate stages):
  python -c "from configs.nomad import get_config; from nomad.teacher import train_teacher; \
      train_teacher(get_config('cpu'), 'workdirs/nomad-teacher')"
or `python launch/train.py --config=configs/nomad.py` (dispatches on `config.method == "nomad"`).
The whole pipeline (teacher -> generate from "User: " -> parse + filters -> NormSim -> student; nomad/pipeline.py;
the student stage, nomad/student.py, trains SmolLM2 with prompt masking on X_train + the synthetic set and on X_train
alone at equal epochs and equal compute, and scores GSM8K and TriviaQA; `--config.pipeline.student=False` skips it):
  python launch/nomad.py --config=configs/nomad.py:cpu --workdir=workdirs/nomad-cpu
Table 1 at CPU scale (unmasked vs masked teacher x filtered vs not, one table + one NormSim figure + the students):
  python launch/nomad.py --config=configs/nomad.py:table1 --table1 --workdir=workdirs/nomad-table1
  -> workdirs/nomad-table1/table1.md, normsim.png, and a pipeline work dir per teacher (unmasked/, masked/).
The table1 preset (LoRA r=8 on q, v; 64 Alpaca conversations; 8 steps of 4 x 128 tokens; 96 generations of <= 96
tokens; NormSim with the embedded MiniLM), measured once end to end on the shared 2-core CPU under load (load
average 5-7, other jobs running): 12 min in all. Per teacher: teacher 85 s (~9 s/step after compile, ~10 GB
resident), generate 263 s / 223 s (unmasked / masked; ~28 tokens/s), parse_filter < 1 s, NormSim 33 s. Result: the
8-step teachers have not learned the format: valid first rounds 2 of 96 (unmasked; 59 incomplete, 35 without an
assistant turn) and 0 of 96 (masked; 83 incomplete, 13 missing_assistant), so the NormSim medians (unmasked
prompts 0.250, responses 0.267, n=2; masked: none) say nothing about the paper's finding yet. A meaningful CPU table
needs a longer teacher run (e.g. --config.sft.steps=50, ~8 min per teacher) and more generations.

Default (CPU) preset: teacher = the embedded Gemma 3 270M *base* (`gemma3-270m`), a seeded 128-conversation subset
of Alpaca (`instruct/alpaca_en_demo.json`), rendered "User: {u}\n\nAssistant: {a}", loss on every token, 1 epoch of
packed 4 x 256-token rows (25 steps) at lr 2e-5. Measured on the shared 2-core CPU under heavy load (load average
7-10, other jobs running): ~60-85 s/step after ~4 min of load + compile, 9-16 tokens/s, ~12 GB resident; loss 2.00
(mean of steps 1-10) -> 1.92 (steps 11-20); the run hit its 25-minute limit at step ~22 (a second run did steps 1-10
at 38 s/step, same loss, and was stopped when the machine ran short of memory), so the full runtime on an idle
machine is still to be measured.
The work dir gets checkpoints (rerun to resume), metrics.jsonl, loss.png, teacher_data.jsonl, teacher_summary.json.

Presets (after a colon, comma-separated): cpu | table1 | tiny (2 steps, 8 generations: tests) | filtered |
unfiltered (which set feeds downstream) | paper (15K conversations, 2 epochs, lr 2e-5, batch 128, bfloat16),
masked | unmasked (the baseline teacher with prompt masking, or NOMAD's without: the default), subsetN (N
conversations; subset0 = all), e.g. `configs/nomad.py:cpu,masked,subset500`. Fields override:
`--config.data.source=lima --config.sft.steps=50` (teacher.epochs > 0 sets sft.steps from the data; set it to 0 to
give steps yourself).
"""
from nomad.config import get_config as _get_config


def get_config(arg=None):
  return _get_config(arg)

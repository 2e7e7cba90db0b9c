r"""NOMAD teacher: fine-tune a pretrained LM on "User: ... Assistant: ..." conversations without prompt masking.

Command (the teacher stage; generation from "User: ", filtering, NormSim and the student are separate stages):
  python -c "from configs.nomad import get_config; from nomad.teacher import train_teacher; \
      train_teacher(get_config('cpu'), 'workdirs/nomad-teacher')"
or `python launch/train.py --config=configs/nomad.py` (dispatches on `config.method == "nomad"`).
The whole pipeline (teacher -> generate from "User: " -> parse + filters -> NormSim -> student; nomad/pipeline.py;
the student stage, nomad/student.py, trains SmolLM2 with prompt masking on X_train + the synthetic set and on X_train
alone at equal epochs and equal compute, and scores GSM8K and TriviaQA (the table1 preset: TriviaQA, BBH and
TruthfulQA); `--config.pipeline.student=False` skips it):
  python launch/nomad.py --config=configs/nomad.py:cpu --workdir=workdirs/nomad-cpu
Table 1 at CPU scale (unmasked vs masked teacher x filtered vs not, one table + one NormSim figure + the students):
  python launch/nomad.py --config=configs/nomad.py:table1 --table1 --workdir=workdirs/nomad-table1
  -> workdirs/nomad-table1/table1.md, normsim.png, and a pipeline work dir per teacher (unmasked/, masked/).
The table1 preset: LoRA r=8 (q, v) teachers on 64 Alpaca conversations, 32 steps of 4 x 128 tokens at lr 2e-3;
96 generations of <= 96 tokens each (sampled 32 at a time); NormSim with the embedded MiniLM; LoRA r=8 SmolLM2
students (lr 1e-3, 1 epoch of packed 4 x 256 rows; train_2x twice that) scored 5-shot on 160 TriviaQA test
questions (batch 16, the shots prefilled once), 3-shot without CoT on four BBH tasks (`bbh_local_fewshot_cpu`:
boolean_expressions, date_understanding, sports_understanding, web_of_lies; the first 100 items each) and on
TruthfulQA generation (the first 100 questions; ROUGE-L true minus false, in points). The measured run, its tables
with standard errors and what they say against the paper are in sweeps/nomad_table1.py's docstring.

Default (CPU) preset: teacher = the embedded Gemma 3 270M *base* (`gemma3-270m`), a seeded 128-conversation subset
of Alpaca (`instruct/alpaca_en_demo.json`), rendered "User: {u}\n\nAssistant: {a}", loss on every token, 1 epoch of
packed 4 x 256-token rows (25 steps) at lr 2e-5. Measured on the shared 2-core CPU under heavy load (load average
7-10, other jobs running): ~60-85 s/step after ~4 min of load + compile, 9-16 tokens/s, ~12 GB resident; loss 2.00
(mean of steps 1-10) -> 1.92 (steps 11-20); the run hit its 25-minute limit at step ~22 (a second run did steps 1-10
at 38 s/step, same loss, and was stopped when the machine ran short of memory), so the full runtime on an idle
machine is still to be measured.
The work dir gets checkpoints (rerun to resume), metrics.jsonl, loss.png, teacher_data.jsonl, teacher_summary.json.

Paper scale (Chen et al., Sec. 4.1 and A.1-A.2; a GPU box and the TULU v2 mixture, allenai/tulu-v2-sft-mixture on the
Hugging Face hub, as its JSON Lines, hub clone or save_to_disk folder):
  python launch/nomad.py --config=configs/nomad.py:paper --table1 --config.data.file=/data/tulu_v2_data.jsonl
a random 15K subset, teachers 2 epochs at lr 2e-5, batch 128 (masked and unmasked), 30K generations from "User: " at
temperature 1, top-p 0.9, first-round parsing and filters, NormSim against the whole mixture, students with prompt
masking (4 epochs at lr 2e-5, batch 128) on X_train + each set against X_train at 4 and 8 epochs, scored on Table 1's
suite. nomad/paper.py lists every setting the paper states and each departure (the models shipped: pass a Llama 3 8B
folder as --config.model; README "Deviations from the NOMAD paper"). Tables 2 and B.2: sweeps/nomad_table2.py and
sweeps/nomad_b2.py (`student.x_train=pool`, `student.baselines`, `student.synthetic_alone`; at CPU scale
`data.pool_size=128` stands for the 300K pool: 48 and 34 minutes on 2 cores, their tables in those files).

Presets (after a colon, comma-separated): cpu | table1 | tiny (2 steps, 8 generations: tests) | filtered |
unfiltered (which set feeds downstream) | paper (above),
masked | unmasked (the baseline teacher with prompt masking, or NOMAD's without: the default), subsetN (N
conversations; subset0 = all), e.g. `configs/nomad.py:cpu,masked,subset500`. Fields override:
`--config.data.source=lima --config.sft.steps=50` (teacher.epochs > 0 sets sft.steps from the data; set it to 0 to
give steps yourself).
"""
from nomad.config import get_config as _get_config


def get_config(arg=None):
  return _get_config(arg)

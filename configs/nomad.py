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
boolean_expressions, date_understanding, sports_understanding, web_of_lies; the first 20 items each) and on
TruthfulQA generation (the first 20 questions; ROUGE-L true minus false, in points). Measured on the shared 2-core
CPU under load from other jobs (2026-12-07, load average 5-12; through `launch/sweep.py --sweep=sweeps/nomad_table1.py`,
one resumable run in three attempts): teacher 658 s / 565 s (unmasked / masked; ~16-21 s/step against ~6.5 s idle),
generate 334 s / 200 s, parse_filter < 1 s, NormSim 75 s / 0 s; the student stage (untrained scores + four runs +
their scores) 1,536 s. 3,428 s (57.1 minutes) in all.

| teacher | set | n | valid rate | prompt NormSim median | response NormSim median | removed by filters |
|---|---|---:|---:|---:|---:|---|
| unmasked | unfiltered | 42 | 43.8% | 0.301 | 0.273 | - |
| unmasked | filtered | 36 | 43.8% | 0.301 | 0.280 | repetition 3, coding 3 |
| masked | either | 0 | 0.0% | - | - | - |

Parse outcomes: unmasked: 42 kept, 48 incomplete (hit the 96-token budget), 4 without an assistant turn, 1 role
switch, 1 empty assistant turn; masked: 0 kept, 49 without an assistant turn, 47 incomplete.

| student run | steps | TriviaQA EM (n=160) | BBH no-CoT EM (n=80) | TruthfulQA ROUGE-L diff (n=20) |
|---|---:|---:|---:|---:|
| untrained | 0 | 0.062 +- 0.019 | 0.425 +- 0.055 | 1.18 +- 3.84 |
| train (X_train, 1 epoch) | 13 | 0.056 +- 0.018 | 0.450 +- 0.056 | -0.98 +- 3.14 |
| train_2x (equal compute) | 25 | 0.056 +- 0.018 | 0.463 +- 0.056 | -1.97 +- 2.69 |
| X_train + unmasked unfiltered | 15 | 0.056 +- 0.018 | 0.438 +- 0.055 | -0.73 +- 2.70 |
| X_train + unmasked filtered | 15 | 0.056 +- 0.018 | 0.450 +- 0.056 | -2.31 +- 2.80 |

+- is the standard error: binomial for the exact-match rates, lm-eval's sample standard error over the 20
questions for the ROUGE-L difference.

What this says, against the paper. Agrees: a prompt-masked teacher never learns to write the user turn, and
sampled from "User: " it writes one long assistant-style monologue without ever writing "Assistant:" (0 of 96 valid
here), while the unmasked teacher writes parseable first rounds (42 of 96) that mostly survive the filters (36).
Cannot be checked here: the paper's NormSim finding (the unmasked teacher's prompts sit closer to the original set
than the masked teacher's) needs masked samples, and at this size there are none; and none of the student columns
can tell any setting apart. Every run is within one standard error of every other and of the untrained 135M student
on all three tasks: TriviaQA 0.056-0.062 (+- 0.018); BBH 0.44-0.46 against the untrained 0.425 (+- 0.055), i.e.
chance (the untrained student scores 0.40 / 0.10 / 0.50 / 0.70 on the four tasks, three of them two-answer);
TruthfulQA's ROUGE-L difference -2.3 to +1.2 points (+- 2.7-3.8). The paper's NomaskedFiltered gains over its
4-epoch baseline (Table 1: +4.3 TriviaQA, +0.4 BBH-NOCOT-FS, +3.7 TruthfulQA) are each below one standard error
here, so the run could not show them even if they held at this scale; nor does it show the paper's losses for the
masked sets (no masked records to train on). GSM8K is not scored in this preset: the untrained student scored 0 of
48, so it carries no signal at this size. A run worth comparing with the paper's numbers needs the `paper` preset's
scale (15K conversations, a 7B student) on a GPU, and BBH's 27 tasks and TruthfulQA's 817 questions.

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
sweeps/nomad_b2.py (`student.x_train=pool`, `student.baselines`, `student.synthetic_alone`).

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

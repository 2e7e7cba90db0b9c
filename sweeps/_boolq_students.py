"""What SoftSRV Figure 4 and Table 3 share (not a sweep itself: a leading underscore): one BoolQ SS_MC pipeline
whose answered records feed students, and the student run that fine-tunes SmolLM2-135M and scores BoolQ.

The student scores 200 BoolQ test questions by log-likelihood (" True" vs " False" after "Answer:", the harness's
zero-shot prompt, so the score does not depend on the answer model's wording) with the binomial SE beside each
figure; `first=True` also scores the untrained student (`accuracy_step0`).
"""

RECORDS = "{workdir:ss_mc}/answer/records.jsonl"  # The pipeline run's answered records, for `--records`.


def pipeline() -> dict:
  """`ss_mc`: configs/boolq.py:sweep with the answer stage on (SmolLM2-135M-Instruct, up to 48 tokens); MAUVE off."""
  return {"name": "ss_mc", "pipeline.answer": True, "pipeline.mauve": False, "answer.max_new_tokens": 48}


def student(name: str, steps: int, first: bool, **overrides) -> dict:
  """A launch/evaluate.py BoolQ run: `steps` full fine-tuning steps, then the 200-question evaluation."""
  return {"name": name, "launcher": "launch/evaluate.py", "config": "configs/evaluate.py", "--task": "boolq",
          **overrides, "sft.steps": steps, "sft.eval_every": steps if first else 0, "sft.save_every": steps,
          "eval.mode": "few_shot", "eval.num_examples": 200, "eval.batch_size": 8}

"""lm-eval task definitions shipped with the package (YAML), and the functions they name (`tasklib`).

Pass `TASKS_DIR` to lm-eval's `TaskManager(include_path=...)` (`datasynth.evals.lm_eval_adapter.task_manager` does):

  bbh_local_cot_fewshot_<task>, group bbh_local_cot_fewshot
                          BBH 3-shot with chain of thought (the shots of `bbh/cot-prompts/<task>.txt`), greedy,
                          exact match of the answer after the last "the answer is" (27 tasks; NOMAD Table 1's
                          BBH-COT-FS)
  bbh_local_fewshot_<task>, group bbh_local_fewshot
                          BBH 3-shot without chain of thought (the same shots, answers only), exact match of the
                          first line (BBH-NOCOT-FS)
  bbh_local_fewshot_cpu   the same over four BBH tasks with short prompts (`BBH_CPU_TASKS`), for CPU-scale runs
                          (configs/nomad.py's table1 preset)
  truthfulqa_local_gen    TruthfulQA generation: the QA primer, greedy 1-2 sentence answer; ROUGE-L max over the
                          true references minus max over the false ones (rougeL_diff), and the share of questions
                          where that difference is positive (rougeL_acc)
  boolq_local, gsm8k_local
                          the project's own BoolQ and GSM8K harnesses as lm-eval tasks (same prompts, same items,
                          same scoring; tests/datasynth/evals/test_lm_eval_adapter.py holds them equal)

The data comes through `datasynth.data` (a data folder named by the `data_dir` metadata, else $DATASYNTH_DATA, else
../shared/data, else the copy bundled with the package, xz-compressed), so the tasks run on a clone without
../shared and never touch the Hugging Face hub. Regenerate the BBH files with `python -m
datasynth.evals.lm_eval_tasks.tasklib` after changing the templates.
"""
import os

TASKS_DIR = os.path.dirname(os.path.abspath(__file__))
BBH_TASKS = (
    "boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
    "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
    "logical_deduction_seven_objects", "logical_deduction_three_objects", "movie_recommendation",
    "multistep_arithmetic_two", "navigate", "object_counting", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection", "snarks",
    "sports_understanding", "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects", "web_of_lies",
    "word_sorting")
BBH_VARIANTS = ("bbh_local_cot_fewshot", "bbh_local_fewshot")
# Four BBH tasks whose 3-shot prompts are short (two with two answers, two with more), scored without chain of
# thought where all 27 would not fit a CPU run: the group bbh_local_fewshot_cpu.
BBH_CPU_TASKS = ("boolean_expressions", "date_understanding", "sports_understanding", "web_of_lies")
BBH_CPU_GROUP = "bbh_local_fewshot_cpu"
OTHER_TASKS = ("truthfulqa_local_gen", "boolq_local", "gsm8k_local")


def shipped_tasks() -> list[str]:
  """The groups and single tasks defined here (each BBH group also has one task per BBH task)."""
  return list(BBH_VARIANTS) + [BBH_CPU_GROUP] + list(OTHER_TASKS)

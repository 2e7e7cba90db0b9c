"""The lm-eval adapter: its scorer equals a full forward, the shipped tasks read the bundled data and build the
published prompts, the adapter's scores equal the project's own harnesses on the same items, the launcher runs.

Offline: HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are set before lm-eval loads, and the tasks read `datasynth.data`.
"""
import json
import os
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import jax
import numpy as np
import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (scripts/setup.sh installs it)")

from datasynth.data.sources import BUNDLED_DIR
from datasynth.evals import boolq, gsm8k, lm
from datasynth.evals import lm_eval_adapter as adapter
from datasynth.evals.lm_eval_tasks import BBH_CPU_TASKS, BBH_TASKS, TASKS_DIR, tasklib
from datasynth.models.config import make_config
from datasynth.models.decoder import Decoder
from datasynth.models.loaders import LoadedModel, save_orbax

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def tiny(smollm2):
  cfg = make_config("llama", vocab_size=smollm2.config.vocab_size, width=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8, mlp_dim=64, eos_id=smollm2.config.eos_id)
  params = Decoder(cfg).init(jax.random.key(0), np.zeros((1, 4), np.int32))["params"]
  params = jax.tree.map(lambda x: np.asarray(getattr(x, "value", x)), params, is_leaf=lambda x: hasattr(x, "value"))
  return LoadedModel(config=cfg, params=params, tokenizer=smollm2.tokenizer, source="tiny")


@pytest.fixture(scope="module")
def manager():
  return adapter.task_manager(["bbh_local_fewshot"], data_dir=str(BUNDLED_DIR))


def _reference(model, ctx, cont):
  """(sum log p, greedy) from one full forward of context + continuation."""
  logits = Decoder(model.config).apply({"params": model.params}, np.array([ctx + cont], np.int32)).logits[0]
  logp = np.asarray(jax.nn.log_softmax(logits, axis=-1))
  rows = [len(ctx) - 1 + j for j in range(len(cont))]
  return (sum(logp[r, t] for r, t in zip(rows, cont)),
          all(int(np.argmax(logits[r])) == t for r, t in zip(rows, cont)))


# ------------------------------------------------------------------------------------------------- the scorer


@pytest.mark.parametrize("share_prefix", [True, False])
def test_continuation_scorer_equals_a_full_forward_with_shared_prefix_and_contexts(tiny, share_prefix):
  tok = tiny.tokenizer
  shots = "Q: what is one plus one? A: two. Q: what colour is the sky on a clear day? A: blue, mostly. "
  texts = [(shots + "Q: where is Paris?", " France"), (shots + "Q: name a yellow fruit", " a banana, or a lemon"),
           (shots + "Q: where is Paris?", " In Europe, on the Seine"), (shots + "Q: name a yellow fruit", " x")]
  pairs = [(tok.encode(c), tok.encode(k, add_bos=False)) for c, k in texts]
  for batch_size in (1, 3):
    got = lm.continuation_scorer(tiny, batch_size=batch_size, progress=False, share_prefix=share_prefix)(pairs)
    for (c, k), (value, greedy) in zip(pairs, got):
      want, want_greedy = _reference(tiny, c, k)
      np.testing.assert_allclose(value, want, atol=1e-4, rtol=1e-5)
      assert greedy == want_greedy


def test_greedy_flag_is_true_for_the_greedy_continuation(tiny):
  ctx = tiny.tokenizer.encode("The capital of France is")
  dec, ids = Decoder(tiny.config), list(ctx)
  for _ in range(3):
    ids.append(int(np.argmax(dec.apply({"params": tiny.params}, np.array([ids], np.int32)).logits[0, -1])))
  other = (ids[len(ctx)] + 1) % tiny.config.vocab_size
  got = lm.continuation_scorer(tiny, progress=False)([(ctx, ids[len(ctx):]), (ctx, [other])])
  assert got[0][1] and not got[1][1]


def test_loglikelihood_rolling_equals_a_forward_per_window(tiny):
  text = "Rolling windows cover every token of a document exactly once, each with as much context as fits."
  ids = tiny.tokenizer.encode(text, add_bos=False)
  for max_length in (16, 256):
    model = adapter.DatasynthLM(tiny, max_length=max_length, progress=False)
    req = lm_eval.api.instance.Instance("loglikelihood_rolling", {}, (text,), 0)
    got = model.loglikelihood_rolling([req])[0]
    windows = lm_eval.utils.get_rolling_token_windows(token_list=ids, prefix_token=model.prefix_id,
                                                      max_seq_len=max_length, context_len=1)
    want = sum(_reference(tiny, list(c), list(k))[0] for c, k in map(lm_eval.utils.make_disjoint_window, windows))
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-5)


# ------------------------------------------------------------------------------------------------- the tasks


def test_bbh_task_files_cover_every_bundled_task_in_both_variants():
  assert sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(BUNDLED_DIR, "bbh", "bbh"))) == sorted(
      f"{t}.json" for t in BBH_TASKS)
  for variant, folder in (("bbh_local_cot_fewshot", "bbh_cot_fewshot"), ("bbh_local_fewshot", "bbh_fewshot")):
    for t in BBH_TASKS:
      with open(os.path.join(TASKS_DIR, folder, f"{t}.yaml"), encoding="utf-8") as f:
        assert f.read() == tasklib.bbh_yaml(variant, t, str(BUNDLED_DIR)), (variant, t)
  # The CPU subset's group: four of the 27 no-CoT tasks, scored as one exact match over all their documents.
  with open(os.path.join(TASKS_DIR, "bbh_fewshot", "_bbh_local_fewshot_cpu.yaml"), encoding="utf-8") as f:
    text = f.read()
  assert text == tasklib.group_yaml("bbh_local_fewshot", BBH_CPU_TASKS, "bbh_local_fewshot_cpu")
  assert text.count("  - bbh_local_fewshot_") == 4 and set(BBH_CPU_TASKS) < set(BBH_TASKS)


def test_bbh_loader_reads_the_bundled_data_and_the_cot_shots():
  cot = tasklib.bbh("sports_understanding", cot=True, data_dir=str(BUNDLED_DIR))
  direct = tasklib.bbh("sports_understanding", cot=False, data_dir=str(BUNDLED_DIR))
  assert len(cot["test"]) == 250 and len(cot["fewshot"]) == 3
  assert [s["target"] for s in direct["fewshot"]] == ["yes", "no", "yes"]
  assert cot["fewshot"][0]["target"].startswith(" Bam Adebayo") and cot["fewshot"][0]["target"].endswith(
      "So the answer is yes.")
  desc, shots = tasklib.bbh_prompt_file("navigate", str(BUNDLED_DIR))
  assert desc.startswith("Given a series of navigation") and shots[0]["reasoning"].startswith("\nWe start")


def test_bbh_answers_are_read_as_published():
  assert tasklib.bbh_cot_answer("... so (B) is wrong. So the answer is (A).") == "(A)"
  assert tasklib.bbh_cot_answer("The answer is 42.\nQ: next") == "42"
  assert tasklib.bbh_cot_answer("no conclusion") == ""
  assert tasklib.bbh_direct_answer(" (C)\n\nQ: ...") == "(C)"
  assert tasklib.bbh_cot_score({"target": "No"}, ["... So the answer is No."]) == {"exact_match": 1.0}
  assert tasklib.bbh_direct_score({"target": "valid"}, [" invalid"]) == {"exact_match": 0.0}


def test_truthfulqa_score_is_rouge_l_true_minus_false():
  data = tasklib.truthfulqa(data_dir=str(BUNDLED_DIR))["validation"]
  assert len(data) == 817 and tasklib.NO_COMMENT in data[0]["correct_answers"]
  assert data[0]["prompt"].startswith(tasklib.QA_PRIMER) and data[0]["prompt"].endswith(
      "Q: What happens to you if you eat watermelon seeds?\nA:")
  doc = dict(correct_answers=["The seeds pass through you", tasklib.NO_COMMENT],
             incorrect_answers=["You grow watermelons in your stomach"])
  true = tasklib.truthfulqa_gen_score(doc, [" The seeds pass through you.\n\nQ: next"])
  assert true["rougeL_max"] == pytest.approx(100.0) and true["rougeL_acc"] == 1.0 and true["rougeL_diff"] > 50
  false = tasklib.truthfulqa_gen_score(doc, ["You grow watermelons in your stomach"])
  assert false["rougeL_acc"] == 0.0 and false["rougeL_diff"] < 0
  assert tasklib.rouge_l("a b c d", "a c d") == pytest.approx(100 * 2 * (3 / 4 * 1) / (3 / 4 + 1))


def test_shipped_tasks_run_through_simple_evaluate_with_the_published_prompts(tiny, manager):
  model = adapter.DatasynthLM(tiny, batch_size=4, max_gen_toks=8, progress=False)
  tasks = ["bbh_local_cot_fewshot_navigate", "bbh_local_fewshot_navigate", "truthfulqa_local_gen"]
  out = lm_eval.simple_evaluate(model=model, tasks=tasks, limit=2, task_manager=manager, log_samples=True,
                                gen_kwargs="max_gen_toks=8", bootstrap_iters=0)
  assert set(tasks) <= set(out["results"])
  for t in tasks:
    assert len(out["samples"][t]) == 2
  cot = out["samples"]["bbh_local_cot_fewshot_navigate"][0]["arguments"][0][0]
  direct = out["samples"]["bbh_local_fewshot_navigate"][0]["arguments"][0][0]
  desc, shots = tasklib.bbh_prompt_file("navigate", str(BUNDLED_DIR))
  # The cot prompt is the published cot-prompts file's text (description, 3 shots), then the question.
  published = "\n\n".join([desc] + [f"Q: {s['input']}\nA: {tasklib.COT_CUE}{s['reasoning']}" for s in shots])
  assert cot.startswith(published + "\n\nQ: ") and cot.endswith(f"\nA: {tasklib.COT_CUE}")
  assert direct.count("\nA: ") == 3 and direct.endswith("\nA:") and "So the answer" not in direct
  assert 0.0 <= out["results"]["truthfulqa_local_gen"]["rougeL_acc,none"] <= 1.0


# ------------------------------------------------------------------------------------- the project's harnesses


def test_adapter_equals_the_boolq_harness_on_the_same_items(tiny, manager):
  # The tiny decoder keeps this well under a minute; with SmolLM2-135M on 48 items (README) it agrees the same way.
  n = 16
  records = boolq.read_split("test", str(BUNDLED_DIR))[:n]
  harness = boolq.evaluate_boolq(records, lm.loglik_scorer(tiny, batch_size=8, progress=False))
  model = adapter.DatasynthLM(tiny, batch_size=8, progress=False)
  out = lm_eval.simple_evaluate(model=model, tasks=["boolq_local"], limit=n, task_manager=manager,
                                log_samples=True, bootstrap_iters=0)
  samples = sorted(out["samples"]["boolq_local"], key=lambda s: s["doc_id"])
  lls = [(s["resps"][0][0][0], s["resps"][1][0][0]) for s in samples]
  assert [a > b for a, b in lls] == harness.predictions
  np.testing.assert_allclose(np.array(lls), np.array(harness.logliks), atol=1e-4, rtol=1e-5)
  assert out["results"]["boolq_local"]["acc,none"] == pytest.approx(harness.accuracy)


def test_adapter_equals_the_gsm8k_harness_on_the_same_items(tiny, manager):
  n, new = 6, 24
  records = gsm8k.read_split("test", str(BUNDLED_DIR))[:n]
  generate = lm.greedy_generator(tiny, max_new_tokens=new, stop=gsm8k.STOP, batch_size=4, progress=False)
  harness = gsm8k.evaluate_gsm8k(records, generate, shots=gsm8k.prompt_shots(str(BUNDLED_DIR)))
  model = adapter.DatasynthLM(tiny, batch_size=4, progress=False)
  out = lm_eval.simple_evaluate(model=model, tasks=["gsm8k_local"], limit=n, task_manager=manager,
                                log_samples=True, gen_kwargs=f"max_gen_toks={new}", bootstrap_iters=0)
  samples = sorted(out["samples"]["gsm8k_local"], key=lambda s: s["doc_id"])
  assert [s["arguments"][0][0] for s in samples] == [gsm8k.build_prompt(r, gsm8k.prompt_shots()) for r in records]
  assert [s["resps"][0][0] for s in samples] == harness.completions
  assert out["results"]["gsm8k_local"]["exact_match,none"] == pytest.approx(harness.accuracy)


# ------------------------------------------------------------------------------------------------ the launcher


def _launch(*args, timeout=300):
  env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false", PYTHONPATH=REPO)
  return subprocess.run([sys.executable, os.path.join(REPO, "launch", "eval_harness.py"), *args], capture_output=True,
                        text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.mark.parametrize("args, message", [
    (["--tasks="], "--tasks is empty"),
    (["--tasks=bbh_local_fewshot", "--limit=-2"], "--limit=-2"),
    (["--tasks=bbh_local_fewshott"], "did you mean bbh_local_fewshot"),
    (["--tasks=boolq_local", "--model=no/such/model"], "--model='no/such/model' is neither"),
    (["--tasks=boolq_local", "--include_path=/no/such/dir"], "--include_path=/no/such/dir"),
    (["--tasks=boolq_local", "--batch_size=0"], "--batch_size=0"),
])
def test_launcher_bad_input_is_one_line(args, message):
  res = _launch(*args)
  assert res.returncode == 2, res.stderr
  lines = [x for x in res.stderr.splitlines() if x.strip()]
  assert lines[-1].startswith("error: ") and message in lines[-1], res.stderr


def test_launcher_scores_a_model_folder_and_writes_results(tiny, tmp_path):
  folder = str(tmp_path / "tiny")
  save_orbax(tiny, folder)
  res = _launch(f"--model={folder}", "--tasks=bbh_local_fewshot_navigate", "--limit=2", "--max_gen_toks=4",
                f"--output_path={tmp_path / 'out'}", "--log_samples", "--batch_size=2")
  assert res.returncode == 0, res.stderr[-3000:]
  assert "| bbh_local_fewshot_navigate | exact_match |" in res.stdout
  with open(tmp_path / "out" / "results.json") as f:
    assert "bbh_local_fewshot_navigate" in json.load(f)["results"]
  assert (tmp_path / "out" / "samples_bbh_local_fewshot_navigate.jsonl").exists()

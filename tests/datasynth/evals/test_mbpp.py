"""MBPP harness: prompt format, code extraction, pass@1 plumbing, and the reference self-check on all test tasks."""
import pytest

from datasynth.evals import mbpp


@pytest.fixture(scope="module")
def test_tasks(data_dir):
  return mbpp.read_split("test", str(data_dir))


@pytest.fixture(scope="module")
def shots(data_dir):
  return mbpp.prompt_shots(str(data_dir))


def test_prompt_format(test_tasks, shots):
  assert [s["task_id"] for s in shots] == [2, 3, 4]
  p = mbpp.build_prompt(test_tasks[0], shots)
  assert p.startswith("You are an expert Python programmer, and here is your task: Write a function to find the "
                      "similar elements from the given two tuple lists. Your code should pass these tests:\n\n"
                      "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n")
  assert p.count("[BEGIN]\n") == 4 and p.count("[DONE]") == 3 and p.endswith("[BEGIN]\n")
  assert "\r" not in p
  assert test_tasks[0]["text"] in p.split("[DONE]")[-1]


def test_extract_code():
  assert mbpp.extract_code("def f():\n  return 1\n[DONE]\nYou are an expert") == "def f():\n  return 1"
  assert mbpp.extract_code("def f():\r\n  return 1") == "def f():\n  return 1"
  assert mbpp.extract_code("[BEGIN]\nx = 1\n[DONE]") == "x = 1"


def test_evaluate_with_oracle_and_wrong_generators(test_tasks, shots):
  tasks = test_tasks[:12]
  by_text = {t["text"]: t["code"] for t in tasks}

  def oracle(prompts):
    out = []
    for p in prompts:
      text = p.split("here is your task: ")[-1].split(" Your code should pass")[0]
      out.append(by_text[text] + "\n[DONE]\nYou are an expert Python programmer")
    return out

  result = mbpp.evaluate_mbpp(tasks, oracle, shots=shots, progress=False)
  assert result.pass_at_1 == 1.0 and result.num_tasks == 12
  wrong = mbpp.evaluate_mbpp(tasks[:4], lambda ps: ["def nothing():\n  return None\n[DONE]"] * len(ps),
                             shots=shots, progress=False)
  assert wrong.pass_at_1 == 0.0 and all(v.status == "error" for v in wrong.verdicts)
  hostile = mbpp.evaluate_mbpp(tasks[:2], lambda ps: ["while True:\n  pass\n[DONE]"] * len(ps), shots=shots,
                               limits=mbpp.sandbox.Limits(cpu_seconds=1, wall_seconds=4), progress=False)
  assert [v.status for v in hostile.verdicts] == ["timeout", "timeout"]
  with pytest.raises(ValueError, match="completions"):
    mbpp.evaluate_mbpp(tasks[:2], lambda ps: ["x"], shots=shots, progress=False)


def test_setup_code_runs_before_the_tests(data_dir):
  rows = [r for r in mbpp.read_split("train", str(data_dir)) + mbpp.read_split("test", str(data_dir))
          if r["test_setup_code"]]
  assert rows, "expected MBPP tasks with test_setup_code"
  failures = mbpp.reference_self_check(rows, progress=False)
  assert failures == {}


def test_reference_solutions_pass_on_all_test_tasks(test_tasks):
  """Self-check of the harness + sandbox: every reference solution passes its own tests (except KNOWN_BROKEN).
  All 500 pass here (about 50 s with 2 workers on a loaded 2-core machine)."""
  assert len(test_tasks) == 500
  failures = mbpp.reference_self_check(test_tasks, workers=2, progress=False)
  unexpected = {k: (v.status, v.message) for k, v in failures.items() if k not in mbpp.KNOWN_BROKEN}
  assert unexpected == {}

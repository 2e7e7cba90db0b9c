"""Appendix C, word for word: every template of `softsrv.templates` against the paper's Figures 8-11.

Each verbatim template, filled with the paper's own placeholders ("[insert example question]", ...), must equal the
text kept below (the paper's words in the template's layout: blocks joined as `softsrv.templates` says). When the
paper is at hand (`../shared/papers/`, absent from a clone), the kept text must also have exactly the paper file's
words, figure by figure, so neither copy can drift.
"""
import os

import pytest

from softsrv import templates

PAPER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "papers", "000_518cc2d2fd81378b.txt")

_INSTR_MBPP = ("Now generate 10 different questions that require writing a Python function similar to the example "
               "above. Make sure each question is different and sufficiently rephrased. Please make sure you generate "
               "questions, and not answers. Please make sure each question you generate has a well-defined answer.")
_INSTR_GSM8K = ("Now generate 10 different questions that require solving a grade-school math problem similar to the "
                "example above. Make sure each question is different and sufficiently rephrased. Please make sure you "
                "generate questions, and not answers. Please make sure each question you generate has a well-defined "
                "answer.")
_INSTR_BOOLQ = ("Now generate 10 different passages and questions similar to the example above. Please make sure each "
                "question you generate has a boolean answer that can be answered by the passage. Make sure each "
                "passage and question is different and sufficiently rephrased. Please make sure you generate passages "
                "and questions, and not answers.")
_CRIT = "Please provide actionable feedback on the clarity, difficulty, and originality of the following "
_STOP = "If the critique is strongly positive, say 'Stop'. Otherwise, write a new "
# The paper's text of each verbatim template, its placeholders as the paper prints them.
EXPECTED = {
    "mbpp/pt": f"Consider the following python question:\n\n[insert example question]\n\n{_INSTR_MBPP}\n\nQuestion 1:",
    "gsm8k/pt": f"Consider the following grade-school math problem:\n\n[insert example question]\n\n{_INSTR_GSM8K}"
                "\n\nQuestion 1:",
    "boolq/pt": f"Consider the following passage and question:\n\n[insert example question]\n\n{_INSTR_BOOLQ}\n\n"
                "Passage and Question 1:",
    "mbpp/answer": "Please answer the following python question:\n[insert example question]\nPlease generate your "
                   "answer as a Python function. The docstring of the function should contain the above question "
                   "as-is, without any modification. Please make sure that your function is valid Python code that "
                   "compiles. Please try your best to correctly answer the question.\nAnswer:",
    "gsm8k/answer": "Please answer the following question that tests reasoning:\n[insert example question]\nAnswer:",
    "boolq/answer": "Please answer the following question based on the passage. Your answer should be either True or "
                    "False. Do not provide any other justification.\n[insert example question]\nAnswer:",
    "gsm8k/pt_undiversified": "Please generate a question that requires solving a grade-school math problem. Here is "
                              "an example of such a question:\n[insert example question]\nNow generate a new "
                              "question. Please make sure your question is not too similar to the example above. "
                              "Please make sure you generate a question, and not an answer. Please make sure the "
                              "question you generate has a well-defined answer.",
    "mbpp/pt_sr_critique": f"{_CRIT}Python question:\n[insert question]",
    "gsm8k/pt_sr_critique": f"{_CRIT}grade school math problem:\n[insert question]",
    "boolq/pt_sr_critique": f"{_CRIT}passage/question problem:\n[insert question]",
    "mbpp/pt_sr_refine": "Read the following Python question and the critique, and write a new Python question based "
                         f"on the critique:\n[insert question]\nCritique:\n[insert critique]\n{_STOP}Python question "
                         "in a single sentence starting with 'Write a Python function' based on the critique. Do not "
                         "ask for docstring or test cases.",
    "gsm8k/pt_sr_refine": "Read the following grade-school math problem and the critique, and write a new grade-school "
                          "math problem based on the critique:\nQuestion:\n[insert question]\nCritique:\n[insert "
                          f"critique]\n{_STOP}grade-school math problem based on the critique. Write the question "
                          "only, do not include the answer.",
    "boolq/pt_sr_refine": "Read the following passage/question problem and the critique, and write a new "
                          "passage/question problem based on the critique:\nQuestion:\n[insert question/passage]\n"
                          f"Critique:\n[insert critique]\n{_STOP}passage/question problem based on the critique. Write "
                          "the passage and question only, do not include the answer.",
}
# Where each figure's templates sit in the paper file: (heading line, next heading line).
PAPER_SPANS = {
    "mbpp/pt": ("MBPP Question Template:", "GSM8K Question Template:"),
    "gsm8k/pt": ("GSM8K Question Template:", "BoolQ Question Template:"),
    "boolq/pt": ("BoolQ Question Template:", "Figure 8:"),
    "mbpp/answer": ("MBPP Answer Template:", "GSM8K Answer Template:"),
    "gsm8k/answer": ("GSM8K Answer Template:", "BoolQ Answer Template:"),
    "boolq/answer": ("BoolQ Answer Template:", "Figure 9:"),
    "gsm8k/pt_undiversified": ("GSM8K Question Template for undiversified PT:", "Figure 10:"),
    "critique": ("Critique Template:", "MBPP Refine Template:"),
    "mbpp/pt_sr_refine": ("MBPP Refine Template:", "GSM8K Refine Template:"),
    "gsm8k/pt_sr_refine": ("GSM8K Refine Template:", "BoolQ Refine Template:"),
    "boolq/pt_sr_refine": ("BoolQ Refine Template:", "Figure 11:"),
}
CRITIQUE_CHOICES = "{Python question, grade school math problem, passage/question problem}"


def paper_placeholders(name: str) -> dict[str, str]:
  kind = name.split("/")[1]
  if kind in ("pt", "pt_undiversified"):
    return {"example": "[insert example question]"}
  if kind == "answer":
    return {"question": "[insert example question]"}
  question = "[insert question/passage]" if name == "boolq/pt_sr_refine" else "[insert question]"
  return {"question": question, "critique": "[insert critique]"} if kind == "pt_sr_refine" else {"question": question}


def words(text: str) -> list[str]:
  return text.replace("```", " ").split()


def paper_excerpt(paper: str, start: str, end: str) -> str:
  lines = paper.splitlines()
  i, j = lines.index(start), lines.index(end, lines.index(start) + 1) if end in lines else None
  if j is None:  # A figure caption line: "Figure 8: Question template for ...".
    j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(end))
  return "\n".join(lines[i + 1:j])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_verbatim_template_is_the_papers_text_with_only_its_placeholders_changed(name):
  tpl = templates.ALL[name]
  assert tpl.verbatim
  assert templates.fill(tpl, **paper_placeholders(name)) == EXPECTED[name]


def test_every_template_is_either_verbatim_and_checked_or_derived_and_says_so():
  derived = {n for n, t in templates.ALL.items() if not t.verbatim}
  assert derived == {"mbpp/pt_undiversified", "boolq/pt_undiversified"}
  assert set(templates.ALL) == set(EXPECTED) | derived
  assert all("derived from Figure 10" in templates.ALL[n].source for n in derived)


@pytest.mark.skipif(not os.path.isfile(PAPER), reason="the paper's text (../shared/papers) is not beside this checkout")
@pytest.mark.parametrize("name", sorted(PAPER_SPANS))
def test_the_kept_text_has_exactly_the_paper_files_words(name):
  paper = open(PAPER, encoding="utf-8").read()
  excerpt = paper_excerpt(paper, *PAPER_SPANS[name])
  if name == "critique":  # One template whose "{...}" lists the per-task noun; each task's choice is one of them.
    for task, noun in (("mbpp", "Python question"), ("gsm8k", "grade school math problem"),
                       ("boolq", "passage/question problem")):
      assert noun in CRITIQUE_CHOICES
      assert words(EXPECTED[f"{task}/pt_sr_critique"]) == words(excerpt.replace(CRITIQUE_CHOICES, noun + ":")
                                                                .replace("::", ":"))
    return
  assert words(EXPECTED[name]) == words(excerpt)


def test_the_derived_undiversified_templates_change_only_figure_10s_task_phrases_to_figure_8s():
  gsm8k = templates.get("pt_undiversified", "gsm8k").text
  assert templates.get("pt_undiversified", "mbpp").text == gsm8k.replace("solving a grade-school math problem",
                                                                           "writing a Python function")
  boolq = gsm8k
  for old, new in templates.DERIVED_PHRASES["boolq"]:
    boolq = boolq.replace(old, new)
  assert templates.get("pt_undiversified", "boolq").text == boolq
  assert "Please generate a passage and question. Here is an example of such a passage and question:" in boolq
  figure8 = {t: templates.get("pt", t).text for t in ("mbpp", "boolq")}
  assert "writing a Python function" in figure8["mbpp"]
  assert "passages and questions" in figure8["boolq"] and "a boolean answer that can be answered by the passage" in \
      figure8["boolq"]


def test_pt_templates_end_with_the_first_item_label_the_parser_reads():
  for task in templates.TASKS:
    assert templates.get("pt", task).text.endswith(f"{templates.ITEM_LABEL[task]} 1:")
    assert "Now generate 10 different" in templates.get("pt", task).text and templates.PER_CALL == 10

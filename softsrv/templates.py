"""The hard-prompt templates of the SoftSRV paper's baselines, word for word (DeSalvo et al., arXiv 2410.16534, App. C).

- Figure 8, PT question templates (MBPP, GSM8K, BoolQ): one train example, "Now generate 10 different questions
  ...", ending "Question 1:" / "Passage and Question 1:" (A.2: sampled at temperature 2).
- Figure 9, answer templates: how a PT / PT_SR question is put to the answer LLM (SoftSRV questions go as they are).
- Figure 10, the undiversified PT template (A.4: one question per call, the model's default temperature). The paper
  prints the GSM8K one only and says "We found similar results for the other datasets"; the MBPP and BoolQ ones here
  are DERIVED from it (`verbatim=False`): each GSM8K phrase is replaced by the phrase that task's Figure 8 template
  uses for the same thing ("a grade-school math problem" -> "writing a Python function" (MBPP) / "a passage and
  question ... boolean answer that can be answered by the passage" (BoolQ)); every other word is Figure 10's.
- Figure 11, PT_SR: the critique template (its "{Python question, grade school math problem, passage/question
  problem}" is the per-task choice, filled here) and the three refine templates ("If the critique is strongly
  positive, say 'Stop'").

The text is the paper's; the only changes are the placeholders ("[insert example question]" -> {example} in Figure 8
and 10, {question} in Figure 9; "[insert question]" / "[insert question/passage]" -> {question}; "[insert
critique]" -> {critique}) and the line breaks: a template is the paper's blocks (intro, inserted text, instruction,
"Question 1:" / "Answer:" / "Critique:" labels) joined by a blank line in Figure 8 (as the paper's MBPP and BoolQ
question templates are laid out) and by one line break in Figures 9-11 (as their boxed templates are); the PDF's line
wrapping inside a block (and the indentation of the inserted text) is layout, rendered as one line.
`tests/softsrv/test_templates.py` compares every template with the paper's text (the copy in `../shared/papers/`
when it is there, and the copy kept in the test).

Placeholders (`str.format` fields) are filled by `fill`, which refuses a missing or unknown field.
"""
from __future__ import annotations

import dataclasses
import string

from datasynth.utils.errors import UserError

TASKS = ("mbpp", "gsm8k", "boolq")
PER_CALL = 10  # Figure 8: "Now generate 10 different questions" (a number in the paper's text, not a setting).
# Figure 8: the label the PT template ends with and each generated item starts with.
ITEM_LABEL = {"mbpp": "Question", "gsm8k": "Question", "boolq": "Passage and Question"}


@dataclasses.dataclass(frozen=True)
class Template:
  name: str  # "<task>/<kind>", e.g. "mbpp/pt".
  text: str  # str.format template.
  source: str  # Where in the paper it comes from.
  verbatim: bool  # True when `text` is the paper's own text (placeholders and line breaks aside).

  @property
  def fields(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None))


def _blocks(sep: str, *blocks: str) -> str:
  return sep.join(blocks)


# ----------------------------------------------------------------------------------- Figure 8: PT questions
_PT_TEXT = {
    "mbpp": _blocks(
        "\n\n", "Consider the following python question:", "{example}",
        "Now generate 10 different questions that require writing a Python function similar to the example above. "
        "Make sure each question is different and sufficiently rephrased. Please make sure you generate questions, "
        "and not answers. Please make sure each question you generate has a well-defined answer.",
        "Question 1:"),
    "gsm8k": _blocks(
        "\n\n", "Consider the following grade-school math problem:", "{example}",
        "Now generate 10 different questions that require solving a grade-school math problem similar to the example "
        "above. Make sure each question is different and sufficiently rephrased. Please make sure you generate "
        "questions, and not answers. Please make sure each question you generate has a well-defined answer.",
        "Question 1:"),
    "boolq": _blocks(
        "\n\n", "Consider the following passage and question:", "{example}",
        "Now generate 10 different passages and questions similar to the example above. Please make sure each "
        "question you generate has a boolean answer that can be answered by the passage. Make sure each passage and "
        "question is different and sufficiently rephrased. Please make sure you generate passages and questions, and "
        "not answers.",
        "Passage and Question 1:"),
}
PT = {t: Template(f"{t}/pt", _PT_TEXT[t], f"Figure 8 (Appendix C), {t.upper()} question template for PT", True)
      for t in TASKS}

# ------------------------------------------------------------------------------------- Figure 9: answers
_ANSWER_TEXT = {
    "mbpp": _blocks(
        "\n", "Please answer the following python question:", "{question}",
        "Please generate your answer as a Python function. The docstring of the function should contain the above "
        "question as-is, without any modification. Please make sure that your function is valid Python code that "
        "compiles. Please try your best to correctly answer the question.",
        "Answer:"),
    "gsm8k": _blocks("\n", "Please answer the following question that tests reasoning:", "{question}", "Answer:"),
    "boolq": _blocks(
        "\n", "Please answer the following question based on the passage. Your answer should be either True or False. "
        "Do not provide any other justification.", "{question}", "Answer:"),
}
ANSWER = {t: Template(f"{t}/answer", _ANSWER_TEXT[t], f"Figure 9 (Appendix C), {t.upper()} answer template", True)
          for t in TASKS}

# --------------------------------------------------------------------------- Figure 10: undiversified PT
_ONE_GSM8K = _blocks(
    "\n", "Please generate a question that requires solving a grade-school math problem. Here is an example of such "
    "a question:", "{example}",
    "Now generate a new question. Please make sure your question is not too similar to the example above. Please "
    "make sure you generate a question, and not an answer. Please make sure the question you generate has a "
    "well-defined answer.")
# MBPP and BoolQ: Figure 10 with Figure 8's task phrases (module docstring); (GSM8K phrase, the task's phrase) pairs.
DERIVED_PHRASES = {
    "mbpp": (("solving a grade-school math problem", "writing a Python function"),),
    "boolq": (("a question that requires solving a grade-school math problem", "a passage and question"),
              ("such a question", "such a passage and question"), ("a new question", "a new passage and question"),
              ("your question is", "your passage and question is"),
              ("a question, and not an answer", "a passage and question, and not an answer"),
              ("a well-defined answer", "a boolean answer that can be answered by the passage")),
}


def derive_undiversified(task: str) -> str:
  text = _ONE_GSM8K
  for old, new in DERIVED_PHRASES[task]:
    assert old in text, old
    text = text.replace(old, new)
  return text


PT_UNDIVERSIFIED = {
    "gsm8k": Template("gsm8k/pt_undiversified", _ONE_GSM8K, "Figure 10 (Appendix C), GSM8K undiversified PT", True),
    "mbpp": Template("mbpp/pt_undiversified", derive_undiversified("mbpp"),
                     "derived from Figure 10 (GSM8K) with Figure 8's MBPP phrase 'writing a Python function' (the "
                     "paper prints only GSM8K's)", False),
    "boolq": Template("boolq/pt_undiversified", derive_undiversified("boolq"),
                      "derived from Figure 10 (GSM8K) with Figure 8's BoolQ phrases 'passage and question' and 'a "
                      "boolean answer that can be answered by the passage' (the paper prints only GSM8K's)", False),
}

# ----------------------------------------------------------------------------------- Figure 11: PT_SR
_CRITIQUE_NOUN = {"mbpp": "Python question", "gsm8k": "grade school math problem", "boolq": "passage/question problem"}
PT_SR_CRITIQUE = {
    t: Template(f"{t}/pt_sr_critique",
                _blocks("\n", "Please provide actionable feedback on the clarity, difficulty, and originality of the "
                        f"following {_CRITIQUE_NOUN[t]}:", "{question}"),
                f"Figure 11 (Appendix C), critique template ({_CRITIQUE_NOUN[t]!r} of its three choices)", True)
    for t in TASKS}
_REFINE_TEXT = {
    "mbpp": _blocks(
        "\n", "Read the following Python question and the critique, and write a new Python question based on the "
        "critique:", "{question}", "Critique:", "{critique}",
        "If the critique is strongly positive, say 'Stop'. Otherwise, write a new Python question in a single "
        "sentence starting with 'Write a Python function' based on the critique. Do not ask for docstring or test "
        "cases."),
    "gsm8k": _blocks(
        "\n", "Read the following grade-school math problem and the critique, and write a new grade-school math "
        "problem based on the critique:", "Question:", "{question}", "Critique:", "{critique}",
        "If the critique is strongly positive, say 'Stop'. Otherwise, write a new grade-school math problem based on "
        "the critique. Write the question only, do not include the answer."),
    "boolq": _blocks(
        "\n", "Read the following passage/question problem and the critique, and write a new passage/question problem "
        "based on the critique:", "Question:", "{question}", "Critique:", "{critique}",
        "If the critique is strongly positive, say 'Stop'. Otherwise, write a new passage/question problem based on "
        "the critique. Write the passage and question only, do not include the answer."),
}
PT_SR_REFINE = {t: Template(f"{t}/pt_sr_refine", _REFINE_TEXT[t], f"Figure 11 (Appendix C), {t.upper()} refine "
                            "template", True) for t in TASKS}

ALL = {t.name: t for group in (PT, PT_UNDIVERSIFIED, PT_SR_CRITIQUE, PT_SR_REFINE, ANSWER) for t in group.values()}


def get(kind: str, task: str) -> Template:
  """The template of `kind` (pt | pt_undiversified | pt_sr_critique | pt_sr_refine | answer) for `task`."""
  name = f"{task}/{kind}"
  if name not in ALL:
    kinds = sorted({n.split("/")[1] for n in ALL})
    raise UserError(f"No {kind!r} template for task {task!r}; tasks: {', '.join(TASKS)}; kinds: {', '.join(kinds)}.")
  return ALL[name]


def answer_template(method: str, task: str) -> Template | None:
  """How a question of `method` is put to the answer LLM: SoftSRV questions as is (None), PT ones via Figure 9."""
  if method == "softsrv":
    return None
  if method in ("pt", "pt_undiversified", "pt_sr"):
    return get("answer", task)
  raise UserError(f"Unknown method {method!r}; expected softsrv, pt, pt_undiversified or pt_sr.")


def fill(template: Template, **values) -> str:
  """`template.text` with every placeholder filled; a missing or an unknown value is a UserError."""
  fields = set(template.fields)
  missing, unknown = sorted(fields - set(values)), sorted(set(values) - fields)
  if missing or unknown:
    raise UserError(f"Template {template.name} has fields {sorted(fields)}; missing {missing}, unknown {unknown}: "
                    "pass exactly its fields.")
  return template.text.format(**{k: str(v).strip() for k, v in values.items()})

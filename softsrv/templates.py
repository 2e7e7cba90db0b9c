"""The hard-prompt templates of the SoftSRV paper's baselines, in one place (DeSalvo et al., arXiv 2410.16534).

The paper compares SoftSRV against prompt templates written by hand (Section 4, Appendix C):
- PT: a few-shot template per task (MBPP, GSM8K, BoolQ) that shows examples from the train fold and asks for
  ten new ones ("Now generate 10 different questions ..."), sampled at temperature 2 for diversity (Appendix A.2);
- PT without the diversity device (Figure 10): the same examples, one question per call;
- PT_SR (Figure 11): each PT question is critiqued by the same LLM and refined from the critique, for several
  rounds, until the critique says "Stop";
- the answer templates (Appendix C) that turn a PT question into a prompt for the answer LLM.

Provenance of the text. The paper's appendix could not be read from this project's machines (no network; the
stored copies of arxiv.org/html/2410.16534v2 and v3 that the project's search reaches return only the opening of
the paper, not Appendix C or Figures 10-11). What is quoted from the paper is only what the project's issue 15
quotes: the opening words "Now generate 10 different questions" of the PT instruction and the critique's stop word
"Stop". Every other word below is a RECONSTRUCTION written to follow the paper's description (few-shot examples
from the train fold, ten numbered new questions, one question for Figure 10, a critique that answers "Stop" when no
change is needed and a refinement that rewrites the question from the critique). Each template's `source` says so;
when the paper's text is at hand, replace the strings here (and only here) and set `verbatim=True`.

Placeholders (`str.format` fields) are filled by `fill`, which refuses a missing or unknown field:
  {examples}  the few-shot block (`format_examples`), {num} the number of questions asked for,
  {question}  one question, {critique} the critique of that question.
"""
from __future__ import annotations

import dataclasses
import string
from typing import Sequence

from datasynth.utils.errors import UserError

TASKS = ("mbpp", "gsm8k", "boolq")


@dataclasses.dataclass(frozen=True)
class Template:
  name: str  # "<task>/<kind>", e.g. "mbpp/pt".
  text: str  # str.format template.
  source: str  # Where in the paper it comes from.
  verbatim: bool  # True only when `text` is the paper's own text.

  @property
  def fields(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None))


_RECON = "reconstruction (the paper's text could not be read here; see the module docstring)"

# What each task's unit is called in the templates (the thing SoftSRV generates: Record.prompt).
_NOUN = {
    "mbpp": "Python programming questions",
    "gsm8k": "grade school math word problems",
    "boolq": "passages, each followed by a yes/no question about the passage",
}
_ONE = {
    "mbpp": "Python programming question",
    "gsm8k": "grade school math word problem",
    "boolq": "passage followed by a yes/no question about the passage",
}

# ---------------------------------------------------------------------------------------- PT (Appendix C)
_PT = ("Here are some examples of {noun}:\n\n{{examples}}\n\n"
       "Now generate {{num}} different questions that are similar to the examples above. "
       "Each new question must be self-contained and must not repeat an example. "
       "Write them as a numbered list, one question per number.")
PT = {t: Template(f"{t}/pt", _PT.format(noun=_NOUN[t]), f"Appendix C, PT question template for {t.upper()}: "
                  f"{_RECON}; the words 'Now generate ... different questions' are the paper's.", False)
      for t in TASKS}

# ------------------------------------------------------------------------------ PT undiversified (Figure 10)
_PT_ONE = ("Here are some examples of {noun}:\n\n{{examples}}\n\n"
           "Now generate a new {one} that is similar to the examples above.")
PT_UNDIVERSIFIED = {t: Template(f"{t}/pt_undiversified", _PT_ONE.format(noun=_NOUN[t], one=_ONE[t]),
                                f"Figure 10, undiversified PT (one question per call): {_RECON}.", False)
                    for t in TASKS}

# ------------------------------------------------------------------------------------ PT_SR (Figure 11)
_CRITIQUE = ("Here are some examples of {noun}:\n\n{{examples}}\n\n"
             "Here is a new {one}:\n\n{{question}}\n\n"
             "Critique the new question: say what is unclear, incomplete, incorrect or unlike the examples, and how "
             "to fix it. If the question needs no change, answer only with the word Stop.\n\nCritique:")
_REFINE = ("Here are some examples of {noun}:\n\n{{examples}}\n\n"
           "Here is a new {one}:\n\n{{question}}\n\n"
           "Here is a critique of the new question:\n\n{{critique}}\n\n"
           "Rewrite the new question so that it addresses the critique. Write only the rewritten question.\n\n"
           "Rewritten question:")
PT_SR_CRITIQUE = {t: Template(f"{t}/pt_sr_critique", _CRITIQUE.format(noun=_NOUN[t], one=_ONE[t]),
                              f"Figure 11, PT_SR critique template: {_RECON}; the stop word 'Stop' is the paper's.",
                              False) for t in TASKS}
PT_SR_REFINE = {t: Template(f"{t}/pt_sr_refine", _REFINE.format(noun=_NOUN[t], one=_ONE[t]),
                            f"Figure 11, PT_SR refine template: {_RECON}.", False) for t in TASKS}

# ------------------------------------------------------------------------------- answers (Appendix C)
ANSWER = {
    "mbpp": Template("mbpp/answer", "You are an expert Python programmer. Solve the following problem by writing a "
                     "Python function.\n\n{question}\n\nWrite only the Python code of the function.",
                     f"Appendix C, answer template for MBPP: {_RECON}.", False),
    "gsm8k": Template("gsm8k/answer", "Solve the following math word problem step by step. End your answer with a "
                      "line of the form '#### <number>' giving the final numerical answer.\n\n{question}",
                      f"Appendix C, answer template for GSM8K: {_RECON}.", False),
    "boolq": Template("boolq/answer", "Read the passage and answer the question that follows it with True or "
                      "False.\n\n{question}\n\nAnswer with one word: True or False.",
                      f"Appendix C, answer template for BoolQ: {_RECON}.", False),
}

ALL = {t.name: t for group in (PT, PT_UNDIVERSIFIED, PT_SR_CRITIQUE, PT_SR_REFINE, ANSWER) for t in group.values()}


def get(kind: str, task: str) -> Template:
  """The template of `kind` (pt | pt_undiversified | pt_sr_critique | pt_sr_refine | answer) for `task`."""
  name = f"{task}/{kind}"
  if name not in ALL:
    kinds = sorted({n.split("/")[1] for n in ALL})
    raise UserError(f"No {kind!r} template for task {task!r}; tasks: {', '.join(TASKS)}; kinds: {', '.join(kinds)}.")
  return ALL[name]


def answer_template(method: str, task: str) -> Template | None:
  """How a question of `method` is put to the answer LLM: SoftSRV questions as is (None), PT ones via Appendix C."""
  if method == "softsrv":
    return None
  if method in ("pt", "pt_undiversified", "pt_sr"):
    return get("answer", task)
  raise UserError(f"Unknown method {method!r}; expected softsrv, pt, pt_undiversified or pt_sr.")


def format_examples(examples: Sequence[str]) -> str:
  """The few-shot block: "Example 1:\\n<text>" blocks separated by blank lines."""
  if not examples:
    raise UserError("A PT template needs at least one few-shot example; set baseline.shots >= 1.")
  return "\n\n".join(f"Example {k}:\n{x.strip()}" for k, x in enumerate(examples, 1))


def fill(template: Template, **values) -> str:
  """`template.text` with every placeholder filled; a missing or an unknown value is a UserError."""
  fields = set(template.fields)
  missing, unknown = sorted(fields - set(values)), sorted(set(values) - fields)
  if missing or unknown:
    raise UserError(f"Template {template.name} has fields {sorted(fields)}; missing {missing}, unknown {unknown}: "
                    "pass exactly its fields.")
  return template.text.format(**{k: str(v) for k, v in values.items()})

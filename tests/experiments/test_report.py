"""The run report: kind detection, sections, counts, inline PNGs, seeded examples, escaping, and a real browser.

Every work dir here is synthetic (the layout launch/pipeline.py writes, with small PNGs and manifests), so the
tests take well under a second each; the Chromium test renders the page headless and checks the screenshot shows
the page's text and its figures.
"""
import base64
import html.parser
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from datasynth.utils.errors import UserError
from experiments import report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RED = (220, 20, 20)  # The colour of the loss PNG, looked for in the browser's screenshot.
EVIL = "<script>alert('x')</script> & <b>bold</b>"


def _png(path, color, size=(240, 160)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new("RGB", size, color).save(path, format="PNG")


def _jsonl(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)


def _write_json(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


@pytest.fixture
def data_dir(tmp_path):
  rows = [dict(task_id=i, text=f"Write a function number {i} that adds numbers.", code="pass", test_list=[])
          for i in range(30)]
  _jsonl(tmp_path / "data" / "mbpp" / "splits_derived" / "mbpp_train.jsonl", rows)
  return str(tmp_path / "data")


def make_pipeline_workdir(root, data_dir, method="softsrv"):
  """What launch/pipeline.py leaves: stage manifests, summary.json, PNGs, generated chunks, kept questions."""
  wd = str(root)
  stages = [
      dict(name="train", key="a", config=dict(soft_prompt=dict(variant="mc", t=16), task="mbpp"), seconds=12.5,
           counts={"in": 358, "out": 1}, final=dict(step=150, heldout_loss=1.63), resumed=True),
      dict(name="generate", key="b", config=dict(generate=dict(num_samples=40), data=dict(data_dir=data_dir)),
           seconds=3.0, counts={"in": 40, "out": 40}),
      dict(name="postprocess", key="c", config=dict(postprocess=dict(num_subsample=20)), seconds=0.4,
           counts={"in": 40, "out": 20, "dropped": {"duplicate": 12, "contaminated": 8}}),
      dict(name="mauve", key="d", config=dict(mauve=dict(num_examples=20)), seconds=5.0,
           counts={"in": 20, "out": 20}),
  ]
  for m in stages:
    _write_json(os.path.join(wd, "stages", m["name"] + ".json"), m)
  mauve = dict(train=dict(mauve=0.91, num_clusters=4, num_p=20, num_q=20),
               test=dict(mauve=0.85, num_clusters=4, num_p=20, num_q=20))
  _write_json(os.path.join(wd, "summary.json"), dict(method=method, label="SS_MC", task="mbpp", stages=stages,
                                                     mauve=mauve))
  _png(os.path.join(wd, "train", "loss.png"), RED)
  _png(os.path.join(wd, "mauve", "mauve.png"), (20, 20, 220))
  _jsonl(os.path.join(wd, "generate", "chunk-00000.jsonl"), [dict(text=f"generated question {i}") for i in range(40)])
  kept = [dict(text=f"kept question {i}") for i in range(19)] + [dict(text=EVIL)]
  _jsonl(os.path.join(wd, "postprocess", "kept.jsonl"), kept)
  return wd


class _Parser(html.parser.HTMLParser):
  def __init__(self):
    super().__init__()
    self.h2, self.tables, self.imgs, self.imgs_alt, self.scripts, self.cells = [], 0, [], [], 0, []
    self._tag = None

  def handle_starttag(self, tag, attrs):
    self._tag = tag
    self.tables += tag == "table"
    self.scripts += tag == "script"
    if tag == "img":
      self.imgs.append(dict(attrs)["src"])
      self.imgs_alt.append(dict(attrs)["alt"])

  def handle_data(self, data):
    if self._tag == "h2":
      self.h2.append(data)
    if self._tag == "td":
      self.cells.append(data)

  def handle_endtag(self, tag):
    self._tag = None


def _parse(path):
  p = _Parser()
  with open(path, encoding="utf-8") as f:
    p.feed(f.read())
  return p


# ------------------------------------------------------------------------------------------------------ tests


def test_the_kind_of_a_work_dir_is_detected_from_its_files(tmp_path, data_dir):
  assert report.detect_kind(make_pipeline_workdir(tmp_path / "p", data_dir)) == "pipeline"
  assert report.detect_kind(make_pipeline_workdir(tmp_path / "n", data_dir, method="nomad")) == "nomad"
  _write_json(tmp_path / "s" / "sweep.json", dict(name="s", runs=[]))
  _jsonl(tmp_path / "t" / "metrics.jsonl", [dict(step=1, loss=2.0)])
  _write_json(tmp_path / "e" / "results.json", dict(final=dict(step=1, accuracy=0.5)))
  assert [report.detect_kind(str(tmp_path / k)) for k in "ste"] == ["sweep", "train", "evaluate"]
  os.makedirs(tmp_path / "empty")
  with pytest.raises(UserError, match="holds none of sweep.json"):
    report.detect_kind(str(tmp_path / "empty"))


def test_the_html_has_every_section_the_stage_counts_and_each_img_decodes_as_a_png(tmp_path, data_dir):
  html_path, _ = report.write_report(make_pipeline_workdir(tmp_path / "p", data_dir))
  page = _parse(html_path)
  assert page.h2 == ["Run", "Stages", "Final metrics", "Figures", "Examples", "Config"]
  assert page.tables >= 5 and len(page.imgs) == 2 and page.imgs_alt == ["train/loss.png", "mauve/mauve.png"]
  for src in page.imgs:
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(io.BytesIO(data)).size == (240, 160)
  assert "duplicate: 12, contaminated: 8" in page.cells  # Dropped by reason.
  assert "0.91" in page.cells and "1.63" in page.cells  # MAUVE vs train; the train stage's held-out loss.


def test_examples_are_a_seeded_draw_of_ten_kept_questions_beside_ten_real_ones(tmp_path, data_dir):
  wd = make_pipeline_workdir(tmp_path / "p", data_dir)
  sections = {s.title: s for s in report.build(wd).sections}
  ex = sections["Examples"].blocks[0]
  assert len(ex.generated) == 10 and len(ex.real) == 10
  assert all(t.startswith("kept question") or t == EVIL for t in ex.generated)
  assert all(t.startswith("Write a function number") for t in ex.real)
  again = {s.title: s for s in report.build(wd).sections}["Examples"].blocks[0]
  other = {s.title: s for s in report.build(wd, seed=1).sections}["Examples"].blocks[0]
  assert again.generated == ex.generated and other.generated != ex.generated


def test_every_text_is_html_escaped(tmp_path, data_dir):
  wd = make_pipeline_workdir(tmp_path / "p", data_dir)
  html_path, _ = report.write_report(wd, seed=3, num_examples=20)  # 20 of 20: the evil row is shown.
  text = open(html_path, encoding="utf-8").read()
  assert "<script>" not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp;" in text
  assert _parse(html_path).scripts == 0


def test_the_markdown_twin_has_the_same_sections_and_links_the_pngs_by_relative_path(tmp_path, data_dir):
  wd = make_pipeline_workdir(tmp_path / "p", data_dir)
  _, md_path = report.write_report(wd)
  md = open(md_path, encoding="utf-8").read()
  assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == [
      "Run", "Stages", "Final metrics", "Figures", "Examples", "Config"]
  assert "![train/loss.png](train/loss.png)" in md and "| postprocess | 40 | 20 | 20 | duplicate: 12, contam" in md


def test_missing_real_data_is_stated_in_the_examples_section_not_fatal(tmp_path):
  wd = make_pipeline_workdir(tmp_path / "p", str(tmp_path / "no_data"))
  ex = {s.title: s for s in report.build(wd).sections}["Examples"].blocks[0]
  assert ex.real == [] and "Real mbpp examples unavailable" in ex.note and len(ex.generated) == 10


def test_a_sweep_work_dir_reports_its_runs_table_and_comparison_plot(tmp_path):
  root = tmp_path / "sweep"
  sweep_file = tmp_path / "tiny.py"
  sweep_file.write_text("def get_sweep():\n  return [{'seed': 0}]\n")
  _write_json(root / "sweep.json", dict(name="tiny", sweep_file=str(sweep_file), runs=[dict(name="seed-0")]))
  (root / "results.csv").write_text("run,status,seed,loss\nseed-0,finished,0,1.5\n")
  _png(str(root / "comparison.png"), RED)
  html_path, _ = report.write_report(str(root))
  page = _parse(html_path)
  assert page.h2 == ["Runs", "Figures", "Config"] and len(page.imgs) == 1
  assert ["seed-0", "finished", "0", "1.5"] == page.cells[:4]


def test_a_nomad_work_dir_shows_its_normsim_figure_and_real_examples_as_conversations(tmp_path, data_dir):
  wd = make_pipeline_workdir(tmp_path / "n", data_dir, method="nomad")
  _png(os.path.join(wd, "normsim", "normsim.png"), (20, 160, 20))
  built = report.build(wd)
  sections = {s.title: s for s in built.sections}
  assert built.kind == "nomad"
  assert [b.caption for b in sections["Figures"].blocks] == ["train/loss.png", "mauve/mauve.png", "normsim/normsim.png"]
  assert sections["Examples"].blocks[0].real[0].startswith("User: Write a function") and "\nAssistant: " in (
      sections["Examples"].blocks[0].real[0])


def test_train_and_evaluate_work_dirs_report_their_final_metrics_and_curves(tmp_path):
  _jsonl(tmp_path / "t" / "metrics.jsonl", [dict(step=5, loss=2.5), dict(step=10, loss=2.0, heldout_loss=2.2)])
  _write_json(tmp_path / "t" / "run_config.json", dict(task="mbpp", soft_prompt=dict(t=16)))
  _png(str(tmp_path / "t" / "loss.png"), RED)
  _write_json(tmp_path / "e" / "results.json", dict(task="mbpp", metric="pass_at_1", final=dict(step=20, pass_at_1=0.3),
                                                    mauve=dict(test=dict(mauve=0.7, num_clusters=2, num_p=5, num_q=5))))
  _png(str(tmp_path / "e" / "metric_vs_steps.png"), RED)
  train_page = _parse(report.write_report(str(tmp_path / "t"))[0])
  eval_page = _parse(report.write_report(str(tmp_path / "e"))[0])
  assert train_page.h2 == ["Final metrics", "Figures", "Config"] and len(train_page.imgs) == 1
  assert ["step", "10", "loss", "2", "heldout_loss", "2.2"] == train_page.cells[:6]
  assert eval_page.h2 == ["Final metrics", "Figures", "Config"] and len(eval_page.imgs) == 1
  assert "0.3" in eval_page.cells and "0.7" in eval_page.cells


def test_launch_report_writes_both_files_and_a_bad_work_dir_exits_2(tmp_path, data_dir):
  wd = make_pipeline_workdir(tmp_path / "p", data_dir)
  env = {**os.environ, "PYTHONPATH": REPO}
  ok = subprocess.run([sys.executable, "launch/report.py", f"--workdir={wd}"], cwd=REPO, capture_output=True,
                      text=True, env=env)
  assert ok.returncode == 0 and os.path.isfile(os.path.join(wd, "report.html"))
  assert os.path.isfile(os.path.join(wd, "report.md"))
  bad = subprocess.run([sys.executable, "launch/report.py", f"--workdir={tmp_path / 'nope'}"], cwd=REPO,
                       capture_output=True, text=True, env=env)
  assert bad.returncode == 2 and bad.stderr.startswith("error: --workdir")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (Debian: apt-get install -y chromium)")
def test_headless_chromium_renders_the_page_with_its_text_and_figures(tmp_path, data_dir):
  html_path, _ = report.write_report(make_pipeline_workdir(tmp_path / "p", data_dir))
  shot = tmp_path / "shot.png"
  subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
                  f"file://{html_path}"], check=True, capture_output=True, timeout=120)
  pixels = list(Image.open(shot).convert("RGB").getdata())
  non_white = sum(1 for p in pixels if min(p) < 240) / len(pixels)
  red = sum(1 for p in pixels if abs(p[0] - RED[0]) < 12 and p[1] < 40 and p[2] < 40)
  assert non_white > 0.02  # Text, tables and figures, not a blank page.
  assert red > 0.8 * 240 * 160  # The loss PNG is on screen at its size.

"""The readers of the project's own JSON files: lenient where a run may be in progress or killed."""
from datasynth.utils import io


def test_read_jsonl_lenient_skips_a_torn_line_and_reads_an_absent_file_as_empty(tmp_path):
  path = tmp_path / "metrics.jsonl"
  assert io.read_jsonl_lenient(path) == []
  path.write_text('{"step": 1}\n[1, 2]\n{"step": 2, "loss": 0.5}\n\n{"step": 3, "lo', encoding="utf-8")
  assert io.read_jsonl_lenient(path) == [{"step": 1}, {"step": 2, "loss": 0.5}]  # A list and the torn line: skipped.
  assert io.read_json(tmp_path / "absent.json") is None and io.read_json(path) is None  # read_json: the same rule.

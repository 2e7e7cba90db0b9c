"""Task data sets (MBPP, GSM8K, BoolQ, instruction data) as one record type, and atomic JSONL output."""
from datasynth.data.io import write_jsonl
from datasynth.data.records import Record, default_data_dir, load_records_jsonl, load_task, read_jsonl

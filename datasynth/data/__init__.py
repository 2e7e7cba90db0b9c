"""Task data sets (MBPP, GSM8K, BoolQ, TriviaQA, instruction data) as one record type, read from any layout a user
has on disk (`datasynth.data.sources`: the shared folder, official file names, Hugging Face copies), atomic JSONL
output, and a finished synthetic set as a Hugging Face dataset folder with its card (`datasynth.data.publish`)."""
from datasynth.io import write_jsonl  # Re-exported: records are written the crash-safe way.
from datasynth.data.records import (Record, default_data_dir, load_records_jsonl, load_task, read_jsonl,
                                    read_split_rows)

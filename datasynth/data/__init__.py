"""Task data sets (MBPP, GSM8K, BoolQ, TriviaQA, instruction data) as one record type, read from any layout a user
has on disk (`datasynth.data.sources`: the config's folder, $DATASYNTH_DATA, ../shared/data, the bundled copy;
official file names, Hugging Face copies), atomic JSONL output, and a finished synthetic set as a Hugging Face dataset
folder with its card (`datasynth.data.publish`)."""
from datasynth.io import write_jsonl  # Re-exported: records are written the crash-safe way.
from datasynth.data.files import read_jsonl, read_text
from datasynth.data.records import Record, load_records_jsonl, load_task, read_split_rows
from datasynth.data.sources import BUNDLED_DIR, data_dirs, data_file

"""Task data sets (MBPP, GSM8K, BoolQ, TriviaQA, instruction data) as one record type (`records`), read from any
layout a user has on disk (`sources`: the config's folder, $DATASYNTH_DATA, ../shared/data, the bundled copy;
official file names, Hugging Face copies; `files`: UTF-8 / JSON Lines, plain or .xz), mixtures (`mixture`), and a
finished synthetic set as a Hugging Face dataset folder with its card (`publish`). May import `datasynth.utils`."""

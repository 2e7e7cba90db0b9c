"""Decoding from a `datasynth.models` decoder.

- `tokens`: token choice (temperature, top-k, top-p / nucleus masks, one draw per row from its own key).
- `kernels`: the compiled sampler: its static `Spec`, prefill, the decode step, ending a row, `sample`.
- `continuous`: continuous batching (slots refilled as rows end) on the kernels.
- `text`: `sample_text`, prompts in and strings out, through static or continuous batching.
- `buckets`: padded prompt lengths; `chat`: chat templates of instruction-tuned models.
May import `datasynth.utils`, `datasynth.models` and `datasynth.sharding`.
"""

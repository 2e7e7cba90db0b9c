"""Job machinery of the pipelines: staged work dirs (`stages`), chunked, resumable, process-split output (`chunked`),
a content-addressed memo (`memo`), releasing compiled programs and the job-scoped compilation cache (`compiled`), and
the answer step (`answers`: questions -> SFT records through an answer LLM). May import any other part of
`datasynth`."""

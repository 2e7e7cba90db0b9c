"""Post-processing of generated data, the same for every method (SoftSRV Appendix A.2-A.3): exact and near
deduplication (`dedup`), test-fold decontamination by 13-gram overlap (`decontaminate`), diversity subsampling
(`subsample`) and the file-to-file driver (`postprocess`). May import the layers below it (`datasynth.utils`,
`models`, `decode`, `train`, `data`); today it needs only `utils`."""

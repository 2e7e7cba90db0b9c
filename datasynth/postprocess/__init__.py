"""Post-processing of generated data, the same for every method (SoftSRV Appendix A.2-A.3): exact and near
deduplication (`dedup`), test-fold decontamination by 13-gram overlap (`decontaminate`), diversity subsampling
(`subsample`) and the file-to-file driver (`postprocess`)."""
from datasynth.postprocess.decontaminate import Decontaminator, decontaminate, decontaminate_records
from datasynth.postprocess.dedup import ExactDeduplicator, NearDeduplicator, exact_dedup, near_dedup
from datasynth.postprocess.postprocess import PostprocessConfig, postprocess
from datasynth.postprocess.subsample import Selection, diversity_subsample

"""One distribution for the learned synthetic-data generators (SoftSRV, NOMAD) and their shared machinery.

Package data: `datasynth/data/bundled/` (the permissively licensed benchmark sets, xz-compressed, each with its
license and SOURCE.md; see scripts/bundle_data.py), so an installed package reads MBPP, GSM8K, BoolQ, MAWPS, BBH
and TruthfulQA with no data folder. tests/test_packaging.py builds the wheel and checks every bundled file is in it.
"""
import setuptools

setuptools.setup(
    name="datasynth",
    version="0.1.0",
    description="Learned synthetic data generation in JAX/Flax: SoftSRV and NOMAD.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["datasynth", "datasynth.*", "softsrv", "softsrv.*", "nomad", "nomad.*",
                                               "experiments", "experiments.*"]),
    package_data={"datasynth.data": ["bundled/*/*", "bundled/*/*/*"],
                  # The lm-eval task definitions (datasynth.evals.lm_eval_adapter.task_manager).
                  "datasynth.evals.lm_eval_tasks": ["*.yaml", "*/*.yaml", "*/_template_yaml"]},
    install_requires=[
        "jax>=0.10,<0.11",
        "jaxlib>=0.10,<0.11",
        "flax==0.12.8",
        "optax==0.2.8",
        "orbax-checkpoint==0.12.8",
        "ml-collections==1.1.0",
        "absl-py>=2.1,<3",
        "numpy>=2.4,<2.5",
        "scikit-learn>=1.9,<1.10",
        "transformers==4.57.6",
        "tokenizers>=0.22,<0.23",
        "sentencepiece>=0.2,<0.3",
        "protobuf>=5",
        "safetensors>=0.6,<1",
        "gguf==0.19.0",
        "tqdm>=4.66",
        "matplotlib>=3.9",
        "tensorboardX>=2.6",
        "pyyaml>=5.1",  # The dataset card's YAML header (datasynth/data/publish.py).
        "datasketch==2.0.0",  # MinHash LSH for the optional near-duplicate pass (datasynth/postprocess/dedup.py).
    ],
    extras_require={
        # faiss-cpu: needed by mauve-text (the MAUVE test oracle), which does not declare it.
        # torch is the PyTorch reference in parity tests and the competitor in benchmarks; the CPU build of exactly
        # this version is what the setup script installs. datasets: the SFT output is tested with
        # datasets.load_dataset("json"); 4.8.5 is the newest that keeps huggingface_hub < 1 (transformers 4.57); it
        # also writes the HF copies (save_to_disk, parquet) the data readers are tested on. nbclient, nbformat and
        # ipykernel execute colab/ headless (tests/colab).
        "test": ["pytest>=8", "torch==2.13.0", "peft>=0.17", "mauve-text>=0.4", "faiss-cpu>=1.8", "datasets==4.8.5",
                 "nbclient==0.11.0", "nbformat==5.11.1", "ipykernel==7.4.0"],
        # lm-evaluation-harness scoring (datasynth/evals/lm_eval_adapter.py, launch/eval_harness.py, the shipped tasks):
        # the light packages lm-eval's evaluator and the tasks import. lm-eval itself is installed by
        # scripts/setup.sh with `pip install --no-deps lm-eval==0.4.13`: its declared dependencies (evaluate,
        # pytablewriter, a newer huggingface_hub range, ...) would pull packages the adapter never imports and could
        # move pinned ones (transformers, datasets). sacrebleu: lm_eval.api.metrics imports it; rouge-score (+ nltk):
        # TruthfulQA's ROUGE-L; langdetect, immutabledict, nltk: IFEval's instruction checkers.
        "lmeval": ["sacrebleu==2.6.0", "rouge-score==0.1.2", "nltk==3.10.4", "langdetect==1.0.9",
                   "immutabledict==4.2.1"],
        # Benchmark-only competitors. lm-eval also provides the 13-gram Janitor (benchmarks/postprocess.py); install
        # it with `pip install --no-deps lm-eval==0.4.13` (as above).
        "bench": ["lm-eval==0.4.13"],
    },
)

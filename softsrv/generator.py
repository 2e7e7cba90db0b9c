"""A trained SoftSRV generator, loaded from its work dir: x'_j ~ H(P_theta(E(x_i))), i = j mod n.

SoftSRV's step 2 (DeSalvo et al., Sec. 3.3; App. A.2): for item j = 0..N-1 take the training example i = j mod n
(round robin over the n train-fold examples), feed the frozen decoder H the soft prompt P_theta(z_i), z_i = E(x_i),
then BOS (the layout training fitted, `softsrv.layout`), and sample x'_j with temperature 1 until EOS.

`Generator.load(config, workdir)` reads what training wrote, and nothing else: theta and its step from the latest
Orbax checkpoint (without the optimizer state), E's cached z of the train fold, H, and the pinned identity (a work
dir of another config is refused). No optimizer, step function, mesh or initialisation table is built.

Item j draws from the key stream fold_in(key(seed), j) (`datasynth.decode.text.sample_text(item_ids=...)`), so its
sample depends only on (seed, j) and the trained run: not on the batch, chunk or process it fell in. `make_rows` is
the row maker of `datasynth.jobs.chunked.run`; `fingerprint` is what its output folder is pinned to.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from datasynth.decode.kernels import Ending
from datasynth.decode.text import Batching, sample_text
from datasynth.decode.tokens import Sampling
from datasynth.models.decoder import cast_params
from datasynth.models.loaders import LoadedModel, load_model
from datasynth.train import checkpoint as checkpoint_lib
from datasynth.utils.errors import UserError
from softsrv import config as config_lib
from softsrv import context as context_lib
from softsrv import workdir as workdir_lib
from softsrv.layout import Layout

# generate.* fields that change the samples (batch_size, chunk and num_samples do not: chunk and N are pinned by the
# output's plan).
SAMPLE_FIELDS = ("max_new_tokens", "temperature", "top_k", "top_p")


def _train_command(workdir: str) -> str:
  return f"`python launch/train.py --config=<this config> --workdir={workdir}`"


@dataclasses.dataclass
class Generator:
  """theta, the train-fold contexts z [n, d_e] and H, ready to sample; build with `Generator.load`."""
  config: ml_collections.ConfigDict
  model: LoadedModel  # H, its weights on the device in the compute dtype (placed once, not once per batch).
  module: Any  # P_theta (linen).
  theta: Any
  z: np.ndarray  # E(x_i) of the train fold, i = 0..n-1.
  step: int  # The checkpoint step theta comes from.
  identity: str  # The pinned run identity (its hash is every row's config_hash).
  prompt_fn: Any = None  # jitted (theta, z [B, d_e]) -> P_theta(z) [B, t, d].

  def __post_init__(self):
    if self.prompt_fn is None:
      self.prompt_fn = jax.jit(lambda theta, z: self.module.apply({"params": theta}, z))

  @classmethod
  def load(cls, config: ml_collections.ConfigDict, workdir: str, *, model: LoadedModel | None = None,
           context_model: LoadedModel | None = None) -> "Generator":
    config_lib.validate(config)  # Every config field with a domain (generate.* included); cheap.
    if checkpoint_lib.latest_checkpoint_step(workdir) is None:  # Before anything heavy loads.
      raise UserError(f"No trained SoftSRV checkpoint in {workdir}; train first with {_train_command(workdir)}.")
    texts = workdir_lib.load_texts(config)
    model = model or load_model(config.model.name)
    context_model = context_model or load_model(config.context.model)
    identity = workdir_lib.identity_json(config, model, context_model)
    check_fits(config, model)
    module = workdir_lib.make_module(config, model.config.width)
    d_e = context_lib.context_dim(context_model.config.width, config.context.projection_dim or None)
    template = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.key(0), jnp.zeros((1, d_e)))))
    theta, step = checkpoint_lib.restore_params(workdir, identity, template["params"])  # The identity check: first.
    z = workdir_lib.load_examples(config, workdir, model, context_model, texts).train["z"]  # From E's cache.
    dtype = workdir_lib.DTYPES[config.model.dtype]
    model = dataclasses.replace(model, params=jax.device_put(cast_params(model.params, dtype)))
    return cls(config=config, model=model, module=module, theta=theta, z=z, step=step, identity=identity)

  @property
  def n(self) -> int:
    """Number of contexts (train-fold examples) the items cycle over."""
    return len(self.z)

  @property
  def context_free(self) -> bool:
    """SS_NP: one prompt for every item (the sampler prefills it once per batch)."""
    return bool(getattr(self.module, "context_free", False))

  @property
  def variant(self) -> str:
    return self.config.soft_prompt.variant

  @property
  def config_hash(self) -> str:
    return checkpoint_lib.config_hash(self.identity)

  def source_indices(self, items) -> np.ndarray:
    """Round robin (App. A.2): item j uses context i = j mod n."""
    return np.asarray(items, np.int64) % self.n

  def prompts(self, source_indices) -> np.ndarray:
    """P_theta(E(x_i)) for each i: [B, t, d] float32."""
    return np.asarray(self.prompt_fn(self.theta, jnp.asarray(self.z[np.asarray(source_indices)])))

  def fingerprint(self) -> dict[str, Any]:
    """What the samples depend on (for `chunked.Plan`): the run identity's hash, theta's step, the seed and the
    sampling fields."""
    g = self.config.generate
    return dict(method=f"softsrv-{self.variant}", task=self.config.task, config_hash=self.config_hash,
                step=self.step, seed=self.config.seed, **{k: g[k] for k in SAMPLE_FIELDS})

  def make_rows(self, items: range) -> list[dict[str, Any]]:
    """One row per item j of `items`, sampled from context i = j mod n in one `sample_text` call (`generate.batching`
    with `generate.batch_size` rows); the prompts are made `batch_size` at a time."""
    g = self.config.generate
    source = self.source_indices(items)
    if self.context_free:
      prefixes = self.prompts(source[:1])[0]
    else:
      prefixes = np.concatenate([self.prompts(source[lo:lo + g.batch_size]) for lo in range(0, len(items),
                                                                                          g.batch_size)])
    texts, add_bos = Layout.from_config(self.config).generation_prompts(len(items))
    samples = sample_text(
        self.model, texts, prefixes=prefixes, add_bos=add_bos, sampling=Sampling(g.temperature, g.top_k, g.top_p),
        batching=Batching(g.batch_size, g.batching), ending=Ending(g.max_new_tokens), seed=self.config.seed,
        item_ids=list(items), dtype=workdir_lib.DTYPES[self.config.model.dtype], progress=False, return_details=True)
    return [self._row(j, int(i), s) for j, i, s in zip(items, source, samples)]

  def _row(self, item: int, source_index: int, sample) -> dict[str, Any]:
    return dict(text=sample.text, item=item, source_index=source_index, method=f"softsrv-{self.variant}",
                variant=self.variant, task=self.config.task, config_hash=self.config_hash, step=self.step,
                seed=self.config.seed, num_tokens=len(sample.token_ids), finished=sample.finished)


def check_fits(config: ml_collections.ConfigDict, model: LoadedModel) -> None:
  """The layout [P (t)] [BOS] [max_new_tokens] must fit H's context."""
  need = Layout.from_config(config).generation_positions(config.generate.max_new_tokens)
  if need > model.config.max_len:
    raise UserError(f"soft_prompt.t + 1 + generate.max_new_tokens = {need} exceeds the context of "
                    f"{config.model.name} ({model.config.max_len} positions); lower --config.generate.max_new_tokens.")

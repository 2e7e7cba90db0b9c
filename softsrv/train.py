"""SoftSRV training: learn theta so that the frozen decoder H reconstructs x from the soft prompt P_theta(E(x)).

The sequence layout `[P_theta(z)] [BOS x EOS]` is `softsrv.layout.Layout` (shared with generation); the loss, its
equation and its fast paths (shared-prefix forward, chunked NLL with the direct cross-entropy gradient) are
`softsrv.loss`. Only theta is differentiated (H's weights are a non-differentiated argument, so no weight gradients
exist).

`train(config, workdir)` is the whole job: data -> E (cached) -> theta init -> jitted, sharded, donated step, run by
`datasynth.train.loop` (Orbax checkpoints with exact resume: params, optimizer, data order, RNG; metrics as JSON Lines +
TensorBoard; a progress bar and a loss-curve PNG).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

from datasynth import sharding
from datasynth.models.decoder import Decoder, cast_params
from datasynth.models.loaders import LoadedModel, load_model
from datasynth.train import loop
from datasynth.train import state as state_lib
from datasynth.utils import lock
from datasynth.utils.errors import UserError
from softsrv import config as config_lib
from softsrv import embeddings
from softsrv import loss as loss_lib
from softsrv import workdir as workdir_lib
from softsrv.layout import Layout

_DTYPES = workdir_lib.DTYPES


# ------------------------------------------------------------------------------------------------------------ data
def batch_indices(step: int, batch_size: int, n: int, seed: int) -> np.ndarray:
  """Example indices of `step`'s batch: epochs of seeded permutations, a pure function of the step (exact resume)."""
  pos = step * batch_size + np.arange(batch_size)
  epochs, offsets = pos // n, pos % n
  out = np.empty(batch_size, np.int64)
  for e in np.unique(epochs):
    perm = np.random.default_rng([seed, int(e)]).permutation(n)
    out[epochs == e] = perm[offsets[epochs == e]]
  return out


# ------------------------------------------------------------------------------------------------------------ setup
def make_mesh(config: ml_collections.ConfigDict) -> Mesh:
  """The training mesh (`train.mesh` axes) over the first `train.num_devices` JAX devices (0 = all)."""
  devices = jax.devices()
  n = config.train.num_devices
  if n > len(devices):
    raise UserError(f"train.num_devices={n} but JAX sees only {len(devices)} devices.")
  return sharding.make_mesh(dict(config.train.mesh), devices=devices[:n or None])


def validate(config: ml_collections.ConfigDict, model: LoadedModel) -> None:
  """The config against the loaded H (every config-only check is `softsrv.config.validate`, run before loading)."""
  sp, mc = config.soft_prompt, model.config
  if Layout.from_config(config).positions(config.data.max_len) > mc.max_len:
    raise UserError(f"soft_prompt.t + data.max_len = {sp.t} + {config.data.max_len} exceeds the context of "
                    f"{config.model.name} ({mc.max_len} positions); lower t or data.max_len.")


def init_table(config, model: LoadedModel, ids: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
  """Embedded vectors of the tokens occurring in the training x (the sampled-vocabulary init), or None."""
  if config.soft_prompt.init == "normal":
    return None
  special = {model.tokenizer.bos_id, model.tokenizer.eos_id, model.tokenizer.pad_id}
  vocab = np.asarray(sorted(set(ids[mask].tolist()) - special), np.int32)
  return np.asarray(_embed(model, vocab))


def embedding_rms(model: LoadedModel, ids: np.ndarray, mask: np.ndarray) -> float:
  e = _embed(model, ids[mask][:4096])
  return float(jnp.sqrt(jnp.mean(e * e)))


def _embed(model: LoadedModel, ids: np.ndarray) -> jax.Array:
  """H's input embeddings of token ids (the space soft prompts live in)."""
  return Decoder(model.config).apply({"params": {"embedding": model.params["embedding"]}}, jnp.asarray(ids),
                                     method=Decoder.embed)


@dataclasses.dataclass
class Run:
  """Everything a training loop needs, built once by `prepare`."""
  config: ml_collections.ConfigDict
  model: LoadedModel
  module: Any  # The SoftSRV linen module P_theta.
  dec: Decoder
  tx: Any
  train: dict[str, np.ndarray]  # ids, mask, z of the training examples.
  heldout: dict[str, np.ndarray]
  mesh: Mesh
  frozen: Any  # H's weights on the mesh (replicated); never updated.
  step_fn: Any  # jitted (state, frozen, batch) -> (state, metrics); state donated.
  eval_fn: Any  # jitted (theta, frozen, batch) -> (nll sum, tokens).
  identity: str

  def init_state(self) -> state_lib.TrainState:
    key = jax.random.key(self.config.seed)
    k_init, k_state = jax.random.split(key)
    z0 = jnp.zeros((1, self.train["z"].shape[-1]), jnp.float32)
    theta = nn.meta.unbox(self.module.init(k_init, z0)["params"])
    state = state_lib.TrainState.create(theta, self.tx, jax.random.key_data(k_state))
    return jax.device_put(state, sharding.replicated(self.mesh))

  def batch(self, step: int) -> dict[str, jax.Array]:
    idx = batch_indices(step, self.config.train.batch_size, len(self.train["ids"]), self.config.seed)
    return self.put({k: v[idx] for k, v in self.train.items()})

  def put(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    # Examples (leading axis of ids, mask, z) over the mesh's batch axes (data, fsdp).
    return jax.device_put(batch, sharding.batch_sharding(self.mesh, 1))

  def heldout_loss(self, theta) -> float:
    n = len(self.heldout["ids"])
    if n == 0:
      return float("nan")
    b = self.config.train.batch_size
    total, count = 0.0, 0.0
    for s in range(0, n, b):
      part = {k: v[s:s + b] for k, v in self.heldout.items()}
      short = b - len(part["ids"])
      if short:  # Pad with zero-weight rows: fixed shapes, exact mean.
        part = {k: np.concatenate([v, np.repeat(v[-1:], short, 0)]) for k, v in part.items()}
        part["mask"][b - short:, 1:] = False
      nll, tokens = self.eval_fn(theta, self.frozen, self.put(part))
      total, count = total + float(nll), count + float(tokens)
    return total / max(count, 1.0)


def prepare(config: ml_collections.ConfigDict, workdir: str, *, model: LoadedModel | None = None,
            context_model: LoadedModel | None = None) -> Run:
  """Load models and data, compute/cache z, build P_theta, the optimizer, the mesh and the jitted steps."""
  config_lib.validate(config, workdir)  # Every config field with a domain, before anything heavy loads.
  mesh = make_mesh(config)
  if config.train.batch_size % mesh.size:
    raise UserError(f"train.batch_size={config.train.batch_size} is not a multiple of the {mesh.size} devices; "
                    "change the batch size, train.num_devices or train.mesh.")
  texts = workdir_lib.load_texts(config)  # Data errors before the models load.
  model = model or load_model(config.model.name)
  validate(config, model)
  context_model = context_model or load_model(config.context.model)
  examples = workdir_lib.load_examples(config, workdir, model, context_model, texts)
  train, heldout = examples.train, examples.heldout

  sp = config.soft_prompt
  table = init_table(config, model, train["ids"], train["mask"])
  module = workdir_lib.make_module(config, model.config.width,
                                   init_scale=embedding_rms(model, train["ids"], train["mask"]),
                                   token_init=None if table is None else embeddings.vocab_init(table))
  dtype = _DTYPES[config.model.dtype]
  dec = Decoder(model.config, dtype=dtype, remat=config.model.remat, scan_layers=config.model.scan_layers)
  tc = config.train
  tx = state_lib.make_optimizer(lr=tc.lr, steps=tc.steps, warmup_steps=tc.warmup_steps, decay=tc.decay,
                                end_factor=tc.end_factor, optimizer=tc.optimizer, clip_norm=tc.clip_norm or None)
  # H's weights follow the logical-axis rules (replicated on a pure data mesh, split over fsdp / tensor axes).
  frozen = sharding.shard_params(cast_params(model.params, dtype), model.config, mesh)
  step_fn, eval_fn = make_step_fns(module, dec, tx, sp.t, tc.loss_chunk, mesh)
  return Run(config=config, model=model, module=module, dec=dec, tx=tx, train=train, heldout=heldout, mesh=mesh,
             frozen=frozen, step_fn=step_fn, eval_fn=eval_fn,
             identity=workdir_lib.identity_json(config, model, context_model))


def make_step_fns(module, dec: Decoder, tx, t: int, chunk: int, mesh: Mesh):
  loss_fn = loss_lib.make_loss_fn(module, dec, t, chunk)
  loss_and_grad = loss_lib.make_loss_and_grad(module, dec, t, chunk)

  def train_step(state: state_lib.TrainState, frozen, batch):
    (loss, tokens), grads = loss_and_grad(state.params, frozen, batch)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    rng = jax.random.key_data(jax.random.split(jax.random.wrap_key_data(state.rng))[0])
    new = state.replace(step=state.step + 1, params=params, opt_state=opt_state, rng=rng)
    return new, dict(loss=loss, grad_norm=optax.global_norm(grads), tokens=tokens)

  # theta and Adam are small: replicated. The frozen weights keep the shardings they were placed with.
  replicated = sharding.replicated(mesh)
  data = sharding.batch_sharding(mesh, 1)
  step_fn = jax.jit(train_step, in_shardings=(replicated, None, data), out_shardings=(replicated, replicated),
                    donate_argnums=(0,))
  eval_fn = jax.jit(loss_fn, in_shardings=(replicated, None, data), out_shardings=replicated)
  return step_fn, eval_fn


# ------------------------------------------------------------------------------------------------------------ loop
@dataclasses.dataclass
class Result:
  state: state_lib.TrainState
  metrics: list[dict[str, float]]
  workdir: str
  run: Run


def train(config: ml_collections.ConfigDict, workdir: str, *, model: LoadedModel | None = None,
          context_model: LoadedModel | None = None) -> Result:
  """Train (or resume) a SoftSRV embedding under `workdir`; returns the final state and the metric rows."""
  workdir = os.path.abspath(workdir)
  config_lib.validate(config, workdir)
  with lock.hold(workdir):  # Before anything heavy loads: a second process on this work dir is refused at once.
    return _train(config, workdir, model, context_model)


def _train(config, workdir, model, context_model) -> Result:
  os.makedirs(workdir, exist_ok=True)
  run = prepare(config, workdir, model=model, context_model=context_model)
  tc = config.train
  end = min(tc.steps, tc.stop_after) if tc.stop_after else tc.steps
  state = run.init_state()
  schedule = _lr(config)
  positions_per_step = tc.batch_size * Layout.from_config(config).positions(config.data.max_len)

  def summarize(window, done, seconds):  # The window's last step; throughput over the whole window.
    last = window[-1]
    return dict(loss=float(last["loss"]), grad_norm=float(last["grad_norm"]),
                tokens_per_s=sum(float(m["tokens"]) for m in window) / seconds,
                positions_per_s=len(window) * positions_per_step / seconds, lr=float(schedule(done - 1)))

  banner = (f"SoftSRV {config.soft_prompt.variant}: {embeddings.num_params(state.params):,} trained parameters, "
            f"{len(run.train['ids'])} train / {len(run.heldout['ids'])} held-out examples, {run.mesh.size} device(s)")
  out = loop.run(
      workdir=workdir, identity=run.identity, cadence=cadence(config), state=state,
      step_fn=lambda state, step: run.step_fn(state, run.frozen, run.batch(step)), summarize=summarize, end=end,
      total=end, eval_fn=lambda step, state: dict(heldout_loss=run.heldout_loss(state.params)),
      presentation=loop.Presentation(
          desc="softsrv train", show_progress=config.show_progress, banner=banner,
          hint=(f"lower --config.train.lr (now {tc.lr:g}) or keep --config.train.clip_norm on (now {tc.clip_norm:g}), "
                "then rerun to resume"),
          plot_keys=("loss", "heldout_loss"),
          plot_title=f"SoftSRV {config.soft_prompt.variant} on {config.task}: next-token loss of x"))
  return Result(state=out.state, metrics=out.metrics, workdir=workdir, run=run)


def cadence(config: ml_collections.ConfigDict) -> loop.Cadence:
  """The loop's restart-safe fields, read from where this config keeps them (`config_lib.CADENCE_FIELDS`)."""
  fields = {}
  for name, path in config_lib.CADENCE_FIELDS.items():
    section, field = path.split(".")
    fields[name] = config[section][field]
  return loop.Cadence(**fields)


def _lr(config):
  tc = config.train
  return state_lib.make_schedule(tc.lr, tc.steps, tc.warmup_steps, tc.decay, tc.end_factor)

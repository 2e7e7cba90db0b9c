"""One Flax linen decoder for Gemma 1/2/3, Llama and Qwen2.

Inputs are token ids and/or an *embedded prefix* `[batch, t, width]` (vectors in the model's input-embedding space,
i.e. after Gemma's sqrt(width) scaling) placed before the token embeddings; SoftSRV feeds its soft prompt this way.
Positions and masks follow a per-row validity mask, so right-padded ragged batches and a KV cache work the same way:
every key slot carries its position and a valid bit, and a query attends to valid keys whose position is not later
than its own (and, in local layers, within the sliding window).

Layers are one `nn.scan` over a stacked block (parameters `[num_layers, ...]`), which keeps compile time flat in
depth; per-layer differences (local/global window, rope base) are scanned inputs. `scan_layers=False` runs the same
parameters unrolled (training and decoding speed, see the field). A KV cache also serves a prefix shared by a batch
(SoftSRV's SS_NP prompt, PEFT-style prompt tuning): run it once at batch 1 and `attach_prefix` its cache to the rows'
cache; every row attends to it, and it is stored and read once, not per row. Parameters carry logical axis
names (`vocab`, `embed`, `heads`, `kv_heads`, `head_dim`, `mlp`, `layers`) for `datasynth.sharding`.

Einsum letters (one meaning each, in every einsum of this file):
  b batch          l query positions of this call    s key slots (the cache's, or l)    t shared-prefix slots
  d model width    f MLP hidden units                v vocabulary
  n query heads    k key/value heads                 g query heads per kv head (n = k g)    h head dim
  m the stacked queries of all rows meeting a shared prefix (b g l)

Masks and caches are named helpers: `attention_masks` (causal + validity, packed segments, sliding window) and
`mask_logits` with the one `MASK_VALUE`, `write_key_slots` (positions and validity of the cache slots) and
`write_kv` (one layer's keys and values).
"""
from __future__ import annotations

import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from datasynth.models.config import DecoderConfig

Array = jax.Array
# Masked logits (attention here, the sampler's top-k / top-p truncation in `datasynth.decode`): finite, so a fully
# masked (padding) row stays a uniform softmax instead of NaN, and far enough below any real logit that exp underflows
# to exactly 0 beside one; unlike float32's most negative value (-2.38e38) it leaves headroom where masked values
# are scaled or summed. (The decoder used -2.38e38 before: its outputs are bitwise the same with either.)
MASK_VALUE = -1e30


@flax.struct.dataclass
class DecoderOutput:
  logits: Array | None  # [batch, length, vocab] float32, or None when logits=False.
  final_hidden: Array  # [batch, length, width] after the final norm.
  hidden: Array | None  # [num_layers + 1, batch, length, width]: embeddings, then each block's output.
  cache: dict[str, Array] | None  # Updated KV cache when one was passed.


def init_cache(config: DecoderConfig, batch: int, length: int, dtype=jnp.float32) -> dict[str, Array]:
  """An empty KV cache with `length` slots per row.

  k, v: [layers, batch, kv_heads, length, head_dim] (slots next to head_dim: the layout the attention dots read
  without a transpose); pos: each slot's position; valid: slot holds a real token;
  index: next slot to write (shared by all rows, ragged rows are handled by `valid` and `pos`). It may also be set to
  [batch] int32, one index per row (`datasynth.decode.continuous`: each row holds another sequence at another length).
  """
  shape = (config.num_layers, batch, config.num_kv_heads, length, config.head_dim)
  return dict(
      k=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype),
      pos=jnp.zeros((batch, length), jnp.int32), valid=jnp.zeros((batch, length), bool),
      index=jnp.zeros((), jnp.int32))


def write_slots(buf: Array, update: Array, index: Array) -> Array:
  """`buf` [B, S] with `update` [B, l] written from slot `index`: one index for every row (a scalar), or [B], one
  per row (a scatter)."""
  if jnp.ndim(index) == 0:
    return jax.lax.dynamic_update_slice_in_dim(buf, update, index, axis=1)
  b, l = update.shape
  return buf.at[jnp.arange(b)[:, None], index[:, None] + jnp.arange(l)].set(update)


def cast_params(params, dtype) -> Any:
  """`params` as JAX arrays with every floating leaf in `dtype` (e.g. frozen weights stored in bfloat16)."""
  return jax.tree.map(lambda a: jnp.asarray(a, dtype if jnp.issubdtype(a.dtype, jnp.floating) else None), params)


def unstack_layers(params: dict[str, Any]) -> dict[str, Any]:
  """`params` with the stacked `layers` ([num_layers, ...] leaves) split into a tuple of per-layer trees.

  For `Decoder(scan_layers=False)` inside a loop (the sampler's decode): each layer then reads its own weight buffers,
  where slicing a layer out of the stack inside the loop copies every weight on every iteration (XLA CPU; in
  bfloat16 it also round-trips the whole stack through float32).
  """
  layers = nn.meta.unbox(params["layers"])
  n = jax.tree.leaves(layers)[0].shape[0]
  return dict(params, layers=tuple(jax.tree.map(lambda a, i=i: a[i], layers) for i in range(n)))


def attach_prefix(cache: dict[str, Any], prefix_cache: dict[str, Any]) -> dict[str, Any]:
  """`cache` (B rows) with a shared prefix segment: every row attends to `prefix_cache`'s slots before its own.

  prefix_cache: a batch-1 cache filled by running the shared prefix once (e.g. SoftSRV's SS_NP prompt); all its slots
  are kept (create it with as many slots as the prefix has inputs). Rows' positions continue after the prefix's.
  The prefix keys and values are stored once and the rows' queries meet them in one matmul per kv head (queries of
  all rows stacked), instead of every row reading its own copy: for a decode step that is the prefix's share of the
  cache traffic saved (about half at a 64-token prefix and 64 new tokens). Gradients reach the prefix through it.
  """
  if prefix_cache["valid"].shape[0] != 1 or "prefix" in prefix_cache:
    raise ValueError("attach_prefix needs a batch-1 cache without a prefix of its own (the shared prefix run once).")
  return dict(cache, prefix={name: prefix_cache[name] for name in ("k", "v", "pos", "valid")})


def write_key_slots(cache: dict[str, Any], positions: Array, input_mask: Array) -> tuple[Array, Array]:
  """(pos, valid) [B, S] of the cache's slots with this call's L inputs written at slots index .. index + L - 1
  (`cache["index"]`: a scalar, or [B], one start slot per row)."""
  index = cache["index"]
  return write_slots(cache["pos"], positions, index), write_slots(cache["valid"], input_mask, index)


def write_kv(kv_cache: dict[str, Any], k: Array, v: Array) -> dict[str, Any]:
  """The layer-stacked k, v [layers, B, K, S, H] with this call's k, v [B, K, L, H] written into layer
  `kv_cache["layer"]` at slots `kv_cache["index"]` .. (a shared prefix's prefix_k / prefix_v are kept as they are).

  The cache holds every layer and is threaded through the layer scan as carry, so the write is an in-place update of
  one layer's slots rather than a copy of the whole cache per step.
  """
  layer, index = kv_cache["layer"], kv_cache["index"]
  new_kv = {name: a for name, a in kv_cache.items() if name not in ("index", "layer")}
  new_kv.update(k=_write_layer(kv_cache["k"], k, layer, index), v=_write_layer(kv_cache["v"], v, layer, index))
  return new_kv


def _write_layer(buf: Array, new: Array, layer: Array, index: Array) -> Array:
  """The cache `buf` [layers, B, kv_heads, S, head_dim] with `new` [B, kv_heads, l, head_dim] written into `layer` at
  slot `index` (a scalar, or [B]: one slot per row, a scatter)."""
  new = new.astype(buf.dtype)
  if jnp.ndim(index) == 0:
    zero = jnp.zeros((), jnp.int32)
    return jax.lax.dynamic_update_slice(buf, new[None], (layer, zero, zero, index, zero))
  b, _, l, _ = new.shape
  slots = index[:, None] + jnp.arange(l)  # [B, l]
  return buf.at[layer, jnp.arange(b)[:, None], :, slots, :].set(new.transpose(0, 2, 1, 3))


def attention_masks(positions: Array, key_pos: Array, key_valid: Array, *, segment_ids: Array | None = None,
                    sliding_window: int | None = None) -> tuple[Array, Array]:
  """(global, local) [B, L, S] masks: the query at position p sees valid keys at positions <= p (causal), of its own
  segment when rows are packed (`segment_ids` [B, L], keys = queries), and in local layers only keys at positions
  > p - sliding_window.

  positions: [B, L] of the queries; key_pos / key_valid: [B, S] of every key slot they may meet.
  """
  causal = key_valid[:, None, :] & (key_pos[:, None, :] <= positions[:, :, None])
  if segment_ids is not None:  # Packed rows: attention stays inside each example.
    causal = causal & (segment_ids[:, None, :] == segment_ids[:, :, None])
  if not sliding_window:
    return causal, causal
  return causal, causal & (positions[:, :, None] - key_pos[:, None, :] < sliding_window)


def mask_logits(logits: Array, mask: Array) -> Array:
  """Attention logits [B, K, G, L, S] with the keys a query may not see set to MASK_VALUE (mask: [B, L, S])."""
  return jnp.where(mask[:, None, None, :, :], logits, MASK_VALUE)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def _mm(spec: str, x: Array, w: Array, dtype) -> Array:
  """`einsum(spec, x, w)` on `dtype` operands with float32 accumulation, result in `dtype`.

  A bfloat16 x bfloat16 -> float32 dot is what XLA CPU (YNNPACK with AVX512-BF16), TPU and GPU run natively; a
  bfloat16-out dot, or one that mixes a float32 cotangent with bfloat16 weights, is widened to a float32 matmul on
  CPU at half the speed. The custom VJP keeps the backward dots in the same form (cotangent cast to `dtype`).
  For float32 it is the plain einsum and its plain gradient.
  """
  return jnp.einsum(spec, x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32).astype(dtype)


def _mm_fwd(spec, x, w, dtype):
  return _mm(spec, x, w, dtype), (x, w)


def _mm_bwd(spec, dtype, res, g):
  x, w = res
  xs, rest = spec.split(",")
  ws, outs = rest.split("->")
  g = g.astype(dtype)
  dx = jnp.einsum(f"{outs},{ws}->{xs}", g, w.astype(dtype), preferred_element_type=jnp.float32)
  dw = jnp.einsum(f"{xs},{outs}->{ws}", x.astype(dtype), g, preferred_element_type=jnp.float32)
  return dx.astype(x.dtype), dw.astype(w.dtype)


_mm.defvjp(_mm_fwd, _mm_bwd)


def _param(module: nn.Module, name: str, init, shape, axes, dtype):
  return module.param(name, nn.with_logical_partitioning(init, axes), shape, dtype)


class RMSNorm(nn.Module):
  plus_one: bool  # Gemma: scale by (1 + w), w initialised to 0.
  eps: float
  axis_name: str = "embed"
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.zeros if self.plus_one else nn.initializers.ones
    w = _param(self, "scale", init, (x.shape[-1],), (self.axis_name,), self.param_dtype)
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    w32 = w.astype(jnp.float32)
    return (y * (1.0 + w32 if self.plus_one else w32)).astype(x.dtype)


def apply_rope(x: Array, positions: Array, theta: Array, scale: float | Array = 1.0) -> Array:
  """Rotary embedding, halves layout (HF `rotate_half`). x: [B, L, H, D], positions: [B, L]."""
  d = x.shape[-1]
  inv_freq = jnp.power(theta, -jnp.arange(0, d, 2, dtype=jnp.float32) / d)
  angles = (positions.astype(jnp.float32) / scale)[..., None] * inv_freq  # [B, L, D/2]
  sin, cos = jnp.sin(angles)[:, :, None, :], jnp.cos(angles)[:, :, None, :]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


class Attention(nn.Module):
  config: DecoderConfig
  dtype: Any
  param_dtype: Any

  @nn.compact
  def __call__(self, x, positions, mask, is_local, kv_cache):
    c, dt = self.config, self.dtype
    init = nn.initializers.normal(0.02)
    wq = _param(self, "q", init, (c.width, c.num_heads, c.head_dim), ("embed", "heads", "head_dim"), self.param_dtype)
    wk = _param(self, "k", init, (c.width, c.num_kv_heads, c.head_dim), ("embed", "kv_heads", "head_dim"),
                self.param_dtype)
    wv = _param(self, "v", init, (c.width, c.num_kv_heads, c.head_dim), ("embed", "kv_heads", "head_dim"),
                self.param_dtype)
    wo = _param(self, "o", init, (c.num_heads, c.head_dim, c.width), ("heads", "head_dim", "embed"), self.param_dtype)
    q = _mm("bld,dnh->blnh", x, wq, dt)
    k = _mm("bld,dkh->blkh", x, wk, dt)
    v = _mm("bld,dkh->blkh", x, wv, dt)
    if c.qkv_bias:
      zeros = nn.initializers.zeros
      q = q + _param(self, "q_bias", zeros, (c.num_heads, c.head_dim), ("heads", "head_dim"), self.param_dtype).astype(dt)
      k = k + _param(self, "k_bias", zeros, (c.num_kv_heads, c.head_dim), ("kv_heads", "head_dim"),
                     self.param_dtype).astype(dt)
      v = v + _param(self, "v_bias", zeros, (c.num_kv_heads, c.head_dim), ("kv_heads", "head_dim"),
                     self.param_dtype).astype(dt)
    if c.qk_norm:
      q = RMSNorm(c.norm_plus_one, c.norm_eps, "head_dim", self.param_dtype, name="q_norm")(q)
      k = RMSNorm(c.norm_plus_one, c.norm_eps, "head_dim", self.param_dtype, name="k_norm")(k)
    global_theta = c.rope_theta
    local_theta = c.rope_local_theta if c.rope_local_theta is not None else c.rope_theta
    theta = jnp.where(is_local, local_theta, global_theta)
    scale = jnp.where(is_local, 1.0, c.rope_scaling_factor)
    q = apply_rope(q, positions, theta, scale)
    k = apply_rope(k, positions, theta, scale)
    q = q * jnp.asarray((c.query_pre_attn_scalar or c.head_dim) ** -0.5, dt)
    k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)  # [B, K, L, H]

    prefix_k = prefix_v = None
    if kv_cache is not None:  # Write this call's keys/values at the cache index, attend over all slots.
      layer = kv_cache["layer"]
      new_kv = write_kv(kv_cache, k, v)
      # Attention runs in the cache's dtype: a float32 cache under bfloat16 weights (the sampler's choice on CPU) is
      # read as is, not converted to bfloat16 layer by layer on every step.
      att_dt = kv_cache["k"].dtype
      k = jax.lax.dynamic_index_in_dim(new_kv["k"], layer, axis=0, keepdims=False)
      v = jax.lax.dynamic_index_in_dim(new_kv["v"], layer, axis=0, keepdims=False)
      if "prefix_k" in kv_cache:  # A shared prefix segment (`attach_prefix`): [K, T, H].
        prefix_k = jax.lax.dynamic_index_in_dim(kv_cache["prefix_k"], layer, axis=0, keepdims=False)[0]
        prefix_v = jax.lax.dynamic_index_in_dim(kv_cache["prefix_v"], layer, axis=0, keepdims=False)[0]
    else:
      new_kv, att_dt = None, dt

    b, l, _, _ = q.shape
    groups = c.num_heads // c.num_kv_heads
    q = q.reshape(b, l, c.num_kv_heads, groups, c.head_dim).astype(att_dt)
    logits = jnp.einsum("blkgh,bksh->bkgls", q, k, preferred_element_type=jnp.float32)
    if prefix_k is not None:  # Prefix slots first (the mask's key order): all rows' queries in one matmul per head.
      rows = q.transpose(2, 0, 3, 1, 4).reshape(c.num_kv_heads, b * groups * l, c.head_dim)  # [K, M, H]
      prefix_logits = jnp.einsum("kmh,kth->kmt", rows, prefix_k.astype(att_dt), preferred_element_type=jnp.float32)
      prefix_logits = prefix_logits.reshape(c.num_kv_heads, b, groups, l, -1).transpose(1, 0, 2, 3, 4)
      logits = jnp.concatenate([prefix_logits, logits], axis=-1)
    if c.attn_logit_softcap:
      logits = jnp.tanh(logits / c.attn_logit_softcap) * c.attn_logit_softcap
    logits = mask_logits(logits, mask)
    probs = jax.nn.softmax(logits, axis=-1).astype(att_dt)
    # Heads-major output, then one transpose: XLA CPU has no bf16 kernel for this dot with the transposed output
    # folded in ("bkgls,bksh->blkgh" fails on a KV cache with `BF16 x BF16 = F32` unimplemented).
    t = 0 if prefix_k is None else prefix_k.shape[1]
    out = _mm("bkgls,bksh->bkglh", probs[..., t:], v, att_dt)
    if prefix_k is not None:
      prefix_probs = probs[..., :t].transpose(1, 0, 2, 3, 4).reshape(c.num_kv_heads, b * groups * l, t)
      prefix_out = _mm("kmt,kth->kmh", prefix_probs, prefix_v.astype(att_dt), att_dt)
      out = out + prefix_out.reshape(c.num_kv_heads, b, groups, l, c.head_dim).transpose(1, 0, 2, 3, 4)
    out = out.astype(dt).transpose(0, 3, 1, 2, 4).reshape(b, l, c.num_heads, c.head_dim)
    return _mm("blnh,nhd->bld", out, wo, dt), new_kv


class MLP(nn.Module):
  config: DecoderConfig
  dtype: Any
  param_dtype: Any

  @nn.compact
  def __call__(self, x):
    c, dt = self.config, self.dtype
    init = nn.initializers.normal(0.02)
    gate = _param(self, "gate", init, (c.width, c.mlp_dim), ("embed", "mlp"), self.param_dtype)
    up = _param(self, "up", init, (c.width, c.mlp_dim), ("embed", "mlp"), self.param_dtype)
    down = _param(self, "down", init, (c.mlp_dim, c.width), ("mlp", "embed"), self.param_dtype)
    act = jax.nn.silu if c.activation == "silu" else (lambda h: jax.nn.gelu(h, approximate=True))
    h = act(_mm("bld,df->blf", x, gate, dt)) * _mm("bld,df->blf", x, up, dt)
    return _mm("blf,fd->bld", h, down, dt)


class Block(nn.Module):
  """Pre-norm residual block; Gemma 2/3 add norms after attention and after the MLP."""
  config: DecoderConfig
  dtype: Any
  param_dtype: Any

  @nn.compact
  def __call__(self, carry, per_layer, shared):
    x, kv_cache = carry  # None, or dict(k, v [layers, B, kv_heads, S, head_dim], with a prefix: prefix_k/v).
    is_local, layer = per_layer
    positions, global_mask, local_mask, cache_index = shared
    c = self.config
    norm = lambda name: RMSNorm(c.norm_plus_one, c.norm_eps, "embed", self.param_dtype, name=name)
    if kv_cache is not None:
      kv_cache = dict(kv_cache, index=cache_index, layer=layer)
    mask = jnp.where(is_local, local_mask, global_mask)
    h, new_kv = Attention(c, self.dtype, self.param_dtype, name="attn")(
        norm("pre_attn_norm")(x), positions, mask, is_local, kv_cache)
    if c.post_norms:
      h = norm("post_attn_norm")(h)
    x = x + h
    h = MLP(c, self.dtype, self.param_dtype, name="mlp")(norm("pre_mlp_norm")(x))
    if c.post_norms:
      h = norm("post_mlp_norm")(h)
    x = x + h
    return (x, new_kv), x


class Decoder(nn.Module):
  """Decoder-only LM. `dtype` is the compute dtype; `param_dtype` the storage dtype of freshly initialised weights."""
  config: DecoderConfig
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  remat: bool = False  # Recompute each block in the backward pass (memory for time when training through H).
  # Run the layers as one `lax.scan` (compile time flat in depth) or unrolled, each layer on its own slice of the same
  # stacked parameters (or its own tree, `unstack_layers`). Unrolled trains faster: a scan stacks its backward
  # residuals into [layers, ...] buffers (zero-filled, then written and read a layer at a time), memory traffic that
  # dominates a small model (SoftSRV step on SmolLM2 in bfloat16: 5.20 s scanned, 3.59 s unrolled). It decodes faster
  # on unstacked weights (`datasynth.decode`): a scan inside the decode loop slices every weight out of the stack on
  # every step. It compiles about twice as long.
  scan_layers: bool = True

  def setup(self):
    c = self.config
    self.embedding = _param(self, "embedding", nn.initializers.normal(1.0), (c.vocab_size, c.width),
                            ("vocab", "embed"), self.param_dtype)
    if not c.tie_embeddings:
      self.lm_head = _param(self, "lm_head", nn.initializers.normal(0.02), (c.width, c.vocab_size),
                            ("embed", "vocab"), self.param_dtype)
    self.layers = nn.scan(
        self._block_class(), variable_axes={"params": 0}, split_rngs={"params": True},
        in_axes=(0, nn.broadcast), length=c.num_layers,
        metadata_params={nn.PARTITION_NAME: "layers"})(c, self.dtype, self.param_dtype)
    self.final_norm = RMSNorm(c.norm_plus_one, c.norm_eps, "embed", self.param_dtype)

  def _block_class(self):
    return nn.remat(Block, prevent_cse=False) if self.remat else Block

  def _run_layers(self, x, kv, shared):
    """All blocks: (x, kv) -> ((x, new kv), per-layer outputs [layers, B, L, d])."""
    c = self.config
    layers = self.variables["params"].get("layers") if "params" in self.variables else None
    unstacked = isinstance(layers, (list, tuple))
    if unstacked and self.scan_layers:
      raise ValueError("Parameters from `unstack_layers` hold one tree per layer; run them with "
                       "Decoder(scan_layers=False).")
    if self.scan_layers or self.is_initializing():
      per_layer = (jnp.asarray(c.is_local), jnp.arange(c.num_layers, dtype=jnp.int32))
      return self.layers((x, kv), per_layer, shared)
    # Unrolled: layer i applied to its own tree (`unstack_layers`) or to its static slice of the stacked parameters.
    if not unstacked:
      stacked = nn.meta.unbox(layers)
      layers = [jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(c.num_layers)]
    block = self._block_class()(c, self.dtype, self.param_dtype, parent=None)  # Unbound: applied functionally.
    outs = []
    for i in range(c.num_layers):
      (x, kv), y = block.apply({"params": layers[i]}, (x, kv), (jnp.asarray(c.is_local[i]), jnp.int32(i)), shared)
      outs.append(y)
    return (x, kv), jnp.stack(outs)

  def embed(self, tokens: Array) -> Array:
    """Token ids -> input embeddings (Gemma: times sqrt(width)), the space an embedded prefix lives in."""
    x = jnp.take(self.embedding, tokens, axis=0).astype(self.dtype)
    if self.config.embed_scale:
      x = x * jnp.asarray(self.config.width ** 0.5, self.dtype)
    return x

  def unembed(self, h: Array) -> Array:
    """Final hidden states -> float32 logits (with Gemma 2's final soft-capping)."""
    if self.config.tie_embeddings:
      logits = jnp.einsum("bld,vd->blv", h, self.embedding.astype(self.dtype), preferred_element_type=jnp.float32)
    else:
      logits = jnp.einsum("bld,dv->blv", h, self.lm_head.astype(self.dtype), preferred_element_type=jnp.float32)
    if self.config.final_logit_softcap:
      cap = self.config.final_logit_softcap
      logits = jnp.tanh(logits / cap) * cap
    return logits

  def __call__(self, tokens: Array | None = None, *, prefix: Array | None = None, input_mask: Array | None = None,
               positions: Array | None = None, cache: dict[str, Array] | None = None, logits: bool = True,
               return_hidden: bool = False, segment_ids: Array | None = None) -> DecoderOutput:
    """Run the decoder.

    tokens: [B, Lt] int ids; prefix: [B, t, width] embedded prefix placed first; input_mask: [B, t + Lt] True where
    the position holds a real input (defaults to all True); positions: defaults to the running count of valid
    inputs (continuing after the cache's and its shared prefix's valid slots); cache: from `init_cache`, written at
    its index (with `attach_prefix`, every row also attends to the shared prefix, before its own slots);
    segment_ids: [B, t + Lt] int, for packed rows (several examples per row, no cache): a query attends only to keys
    of its own segment. Pass `positions` that restart per example with it.
    """
    c = self.config
    parts = []
    if prefix is not None:
      if prefix.ndim != 3 or prefix.shape[-1] != c.width:
        raise ValueError(f"prefix must be [batch, t, {c.width}] for this model, got shape {prefix.shape}.")
      parts.append(prefix.astype(self.dtype))
    if tokens is not None:
      parts.append(self.embed(tokens))
    if not parts:
      raise ValueError("Decoder needs tokens, a prefix, or both.")
    x = jnp.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    b, l, _ = x.shape
    prefix_cache = None if cache is None else cache.get("prefix")
    total = l if cache is None else cache["valid"].shape[1]
    if prefix_cache is not None:
      total += prefix_cache["valid"].shape[1]
    if total > c.max_len or (cache is not None and l > total):
      raise ValueError(
          f"Sequence of {max(l, total)} positions exceeds the model's context of {c.max_len} "
          f"(or the cache's {total} slots); shorten the input or lower t / max lengths.")
    if input_mask is None:
      input_mask = jnp.ones((b, l), bool)
    input_mask = input_mask.astype(bool)
    if positions is None:
      start = 0 if cache is None else jnp.sum(cache["valid"], axis=1, keepdims=True)
      if prefix_cache is not None:
        start = start + jnp.sum(prefix_cache["valid"], axis=1, keepdims=True)
      positions = start + jnp.cumsum(input_mask, axis=1) - 1
    positions = jnp.maximum(positions, 0).astype(jnp.int32)

    if cache is None:
      key_pos, key_valid, cache_index = positions, input_mask, None
    else:
      cache_index = cache["index"]
      key_pos, key_valid = write_key_slots(cache, positions, input_mask)
    all_pos, all_valid = key_pos, key_valid  # Every key slot the queries see: a shared prefix's, then the rows'.
    if prefix_cache is not None:
      t = prefix_cache["valid"].shape[1]
      all_pos = jnp.concatenate([jnp.broadcast_to(prefix_cache["pos"], (b, t)), key_pos], axis=1)
      all_valid = jnp.concatenate([jnp.broadcast_to(prefix_cache["valid"], (b, t)), key_valid], axis=1)
    if segment_ids is not None and (cache is not None or segment_ids.shape != (b, l)):
      raise ValueError(f"segment_ids must be [batch, length] = {(b, l)} and cannot be combined with a cache, "
                       f"got shape {segment_ids.shape}.")
    causal, local_mask = attention_masks(positions, all_pos, all_valid, segment_ids=segment_ids,
                                         sliding_window=c.sliding_window)

    kv = None if cache is None else dict(k=cache["k"], v=cache["v"])
    if prefix_cache is not None:
      kv.update(prefix_k=prefix_cache["k"], prefix_v=prefix_cache["v"])
    (x, new_kv), hidden = self._run_layers(x, kv, (positions, causal, local_mask, cache_index))
    final_hidden = self.final_norm(x)
    new_cache = None
    if cache is not None:
      new_cache = dict(cache, k=new_kv["k"], v=new_kv["v"], pos=key_pos, valid=key_valid, index=cache_index + l)
    all_hidden = None
    if return_hidden:
      embeds = jnp.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
      all_hidden = jnp.concatenate([embeds[None], hidden], axis=0)
    return DecoderOutput(logits=self.unembed(final_hidden) if logits else None, final_hidden=final_hidden,
                         hidden=all_hidden, cache=new_cache)

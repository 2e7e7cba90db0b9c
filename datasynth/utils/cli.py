"""One entry-point wrapper for every launcher: bad input is one line on stderr and exit status 2, not a traceback.

  if __name__ == "__main__":
    cli.run(main)            # absl launchers: flags (and ml_collections config flags) are parsed here.
    cli.run(main, absl_flags=False)   # argparse launchers: main(argv[1:]).

What counts as bad input at the launcher boundary: `UserError` (raised by validation and readers), a flag that does
not parse, an unknown flag, a config file that fails to load, and an unknown config key (`--config.train.bogus=1`,
reported with the close field names, as absl does for flags). Those print `error: <message>` and exit 2. Any other
exception is a bug and keeps its traceback. `--verbose` (or `--debug`, or DATASYNTH_DEBUG=1) shows the traceback of
user errors too.

Unknown config keys: ml_collections resolves each `--config.a.b` override inside absl's flag parsing and fails with
a bare `AttributeError: "'b'"`; `parse_flags` catches that, reloads the config files named on the command line and
checks every override path against the config's flattened field names (difflib for the suggestion).
"""
from __future__ import annotations

import difflib
import os
import re
import sys
import traceback
from typing import Any, Callable, Sequence

from datasynth.utils import interrupt
from datasynth.utils.errors import UserError

EXIT_USER_ERROR = 2
_VERBOSE_FLAGS = ("--verbose", "--debug")


def fail(message: str, exc: BaseException | None = None, verbose: bool = False) -> None:
  """Print `error: <message>` (one line) to stderr and exit 2; with `verbose` the traceback first."""
  if verbose and exc is not None:
    traceback.print_exception(exc, file=sys.stderr)
  first = " ".join(str(message).split())  # One line: the launcher boundary never prints a multi-line message.
  print(f"error: {first}", file=sys.stderr, flush=True)
  sys.exit(EXIT_USER_ERROR)


def run(main: Callable[[Sequence[str]], Any], argv: Sequence[str] | None = None, *, absl_flags: bool = True) -> None:
  """Run `main` as a launcher: parse flags, call it, turn user errors into `error: ...` and exit status 2; SIGTERM /
  SIGINT before a job starts exit 75 (`interrupt.exit_on_signal`)."""
  argv = list(sys.argv if argv is None else argv)
  verbose = any(a in _VERBOSE_FLAGS for a in argv) or os.environ.get("DATASYNTH_DEBUG", "") not in ("", "0")
  argv = [a for a in argv if a not in _VERBOSE_FLAGS]

  def guarded_main(args):
    try:
      return main(args)
    except UserError as e:
      fail(str(e), e, verbose)

  with interrupt.exit_on_signal():  # A preemption during start-up or model loading: exit 75, as during a job.
    if not absl_flags:
      sys.exit(guarded_main(argv[1:]))
    from absl import app
    app.run(guarded_main, argv=argv, flags_parser=lambda a: _parse_or_fail(a, verbose))


def _parse_or_fail(argv: list[str], verbose: bool) -> list[str]:
  try:
    return parse_flags(argv)
  except UserError as e:
    fail(str(e), e, verbose)


def parse_flags(argv: list[str], flag_values=None) -> list[str]:
  """absl's `FLAGS(argv)` with every user error of it as a `UserError`; returns the positional arguments."""
  from absl import app
  from absl import flags
  fv = flag_values or flags.FLAGS
  app.define_help_flags()
  _forget_overrides(fv)
  argv = _with_default_config_files(argv, fv)
  saved, sys.argv = sys.argv, list(argv)  # ml_collections reads the --config.* overrides from sys.argv.
  try:
    rest = fv(argv)
  except flags.Error as e:
    raise UserError(_flag_error_message(e, argv, fv)) from e
  except SyntaxError as e:  # A config file that does not parse (ml_collections lets it through).
    raise UserError(f"config file {e.filename}:{e.lineno}: {e.msg}; fix the file.") from e
  except (AttributeError, KeyError) as e:  # An override path ml_collections could not resolve.
    unknown = unknown_config_keys(argv, fv)
    if not unknown:
      raise
    raise UserError(unknown[0]) from e
  finally:
    sys.argv = saved
  _check_config_files(fv)
  return rest


def _config_flag_names(fv) -> list[str]:
  from ml_collections.config_flags import config_flags as cf
  return [name for name, flag in fv._flags().items() if isinstance(flag, cf._ConfigFlag) and name == flag.name]


def default_workdir(config_arg: str, prefix: str = "") -> str:
  """./workdirs/<prefix><config name>[-<presets>] for `--config=configs/mbpp.py[:presets]`: the launchers' work dir
  when --workdir is left out (train and generate agree on it; the pipelines use prefix "pipeline-")."""
  path, _, preset = config_arg.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("workdirs", prefix + name + (f"-{preset.replace(',', '-')}" if preset else ""))


def define_config_file(name: str, default: str, help_string: str) -> None:
  """`config_flags.DEFINE_config_file` whose default file takes `--<name>.a.b=...` overrides without `--<name>=`.

  ml_collections loads a default when the flag is defined, applying the overrides found in sys.argv at that moment
  (a wrong key there is a traceback before `run` can report it); here it loads bare, and `parse_flags` loads it
  again with the command line's overrides (`_with_default_config_files`).
  """
  from ml_collections import config_flags
  saved, sys.argv = sys.argv, sys.argv[:1]
  try:
    config_flags.DEFINE_config_file(name, default, help_string)
  finally:
    sys.argv = saved


def _with_default_config_files(argv: list[str], fv) -> list[str]:
  """`--config.a.b=1` without `--config=`: name the flag's default file in argv, so the overrides apply to it.

  ml_collections loads a config flag's default when the flag is defined and defines its override flags from the
  sys.argv of that moment; `_forget_overrides` drops those, so the default is parsed again here, with the overrides.
  """
  argv = list(argv)
  for name in _config_flag_names(fv):
    default = str(fv[name].default_as_str or "").strip("'")
    overridden = any(re.match(rf"^--?(?:no)?{re.escape(name)}\.", a) for a in argv)
    if overridden and default and default != "None" and _flag_value_in_argv(argv, name) is None:
      argv.insert(1, f"--{name}={default}")
  return argv


def _forget_overrides(fv) -> None:
  """Drop `--config.*` field flags a previous parse defined (in-process reruns would see them as duplicates)."""
  for config_name in _config_flag_names(fv):
    for name in [n for n in fv if n.startswith(config_name + ".")]:
      delattr(fv, name)


def _flag_error_message(e: Exception, argv: list[str], fv) -> str:
  """The innermost message of a flag error (ml_collections wraps a config file's own error in its traceback)."""
  inner: BaseException = e
  while inner.__context__ is not None and not isinstance(inner.__context__, (KeyboardInterrupt, SystemExit)):
    inner = inner.__context__
  msg = str(e)
  if inner is not e and "Error whilst parsing config file" in msg:
    flag = msg.split(": Error whilst parsing config file")[0]
    return f"{flag}: {inner}" if isinstance(inner, ValueError) else f"{flag}: {type(inner).__name__}: {inner}"
  from absl import flags
  if isinstance(e, flags.UnrecognizedFlagError):
    unknown = unknown_config_keys(argv, fv)
    if unknown:
      return unknown[0]
  return msg


def _check_config_files(fv) -> None:
  """A config file that failed to load is only reported when accessed: report it now, as one line."""
  for name in _config_flag_names(fv):
    value = fv[name].value
    if type(value).__name__ == "_ErrorConfig":
      err = value._error  # pylint: disable=protected-access
      detail = " ".join(str(err).split())
      m = re.search(r"\[Errno 2\][^:]*: '([^']+)'", detail)
      if m:
        raise UserError(f"--{name}: config file {m.group(1)} not found; check the path (e.g. configs/mbpp.py).")
      raise UserError(f"--{name}: the config file failed to load ({detail}).")


# --------------------------------------------------------------------------------------- unknown config keys


def flat_field_names(config, prefix: str = "") -> list[str]:
  """Every field path of a ConfigDict (nested dicts and their leaves): train, train.lr, train.mesh.data, ..."""
  out = []
  for key in sorted(config.keys()):
    path = f"{prefix}{key}"
    out.append(path)
    value = config[key]
    if hasattr(value, "keys") and callable(value.keys):
      out += flat_field_names(value, path + ".")
  return out


def suggest_field(path: str, names: Sequence[str]) -> str:
  """`unknown config field 'train.bogus'; did you mean 'train.steps'?` (difflib), or the section's fields."""
  parent = path.rpartition(".")[0]
  siblings = [n for n in names if n.rpartition(".")[0] == parent]
  close = difflib.get_close_matches(path, siblings, n=3, cutoff=0.6) or difflib.get_close_matches(
      path, names, n=3, cutoff=0.6)
  if not close and siblings:  # Nothing close: the nearest few in the same section.
    close = difflib.get_close_matches(path, siblings, n=3, cutoff=0.0)
  hint = "did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else "no such field in the config."
  return f"unknown config field '{path}'; {hint}"


def unknown_config_keys(argv: Sequence[str], fv) -> list[str]:
  """Messages for the `--<config>.<path>` overrides in argv that name no field of the config they override."""
  out = []
  for name in _config_flag_names(fv):
    spec = _flag_value_in_argv(argv, name)
    if spec is None:
      spec = fv[name].default if isinstance(fv[name].default, str) else None
    if not spec:
      continue
    try:
      config = fv[name].parser.parse(spec)
    except Exception:  # pylint: disable=broad-except
      continue  # The config file itself is broken; absl reports that.
    if type(config).__name__ == "_ErrorConfig" or not hasattr(config, "keys"):
      continue
    names = set(flat_field_names(config))
    for arg in argv:
      m = re.match(rf"^--?(?:no)?{re.escape(name)}\.([^=]+)", arg)
      if m and m.group(1) not in names:
        out.append(suggest_field(m.group(1), sorted(names)))
  return out


def _flag_value_in_argv(argv: Sequence[str], name: str) -> str | None:
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{name}="):
      value = arg.split("=", 1)[1]
    elif arg == f"--{name}" and i + 1 < len(argv):
      value = argv[i + 1]
  return value

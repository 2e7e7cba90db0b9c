"""Run untrusted Python (model-written MBPP answers) in a separate, resource-limited, network-less process.

Layers of containment, per run:
  - a separate interpreter started in its own session/process group (`start_new_session`), stdin closed, the
    environment scrubbed to PATH/LANG, an empty temporary working directory that is deleted afterwards;
  - an intermediate bootstrap process (`_sandbox_boot.py`) between the caller and the program, so the program's
    parent is never the caller (`os.kill(os.getppid(), ...)` hits the bootstrap, not us);
  - Linux namespaces where the kernel allows (as root, or through a user namespace): a new network namespace (no
    interfaces but a down loopback: connections fail), a new mount namespace with fresh, empty 4 MiB tmpfs over
    /tmp, /var/tmp, /dev/shm and /run/lock (so writes to shared temp paths never reach the real ones), a new PID
    namespace whose init is the program (everything it forks dies with it) and a new IPC namespace;
  - resource limits: RLIMIT_CPU, RLIMIT_AS (memory), RLIMIT_NPROC (processes), RLIMIT_FSIZE (file size),
    RLIMIT_NOFILE, no core files;
  - a memory limit for the program as a whole (every process it forks together): a fresh memory cgroup per run,
    cgroup v2 `memory.max` (+ `memory.swap.max` 0) or cgroup v1 `memory.limit_in_bytes` (+ memsw), whichever this
    machine has writable (as root, or with a delegated cgroup); the kernel OOM-kills the group at the limit and the
    verdict says "memory limit ... for the whole program". Where no cgroup can be made the fallback is RLIMIT_AS per
    process plus RLIMIT_NPROC, which bound the total only to max_processes * memory_bytes (`Verdict.isolation` lacks
    "cgroup" then);
  - in the mount namespace, after the modules programs use are imported, the project checkout (the folder holding
    the `datasynth` package, and the one holding the interpreter's virtual environment), the caller's working
    directory, $HOME and $DATASYNTH_SANDBOX_HIDE's folders are covered by empty read-only tmpfs, so the
    program cannot read the project's code, data or credentials ("hidden" in `Verdict.isolation`). The rest of the
    file system stays visible read-only as the sandbox uid sees it (e.g. /usr, /etc/passwd; not /etc/shadow, mode
    0640); without a mount namespace those paths are readable wherever the uid's permissions allow;
  - when started as root: the program runs under a fresh unprivileged uid/gid (unique per run, no supplementary
    groups), so RLIMIT_NPROC is enforced (root ignores it) and counts only this run's processes, the program cannot
    signal the caller or other runs, and can write only where the world can (the tmpfs above and its own dir);
  - socket creation raises inside the program in every case (a second line of defence where no network namespace
    could be made);
  - a wall-clock limit after which the whole process group is killed with SIGKILL.

Limitations (documented, not hidden): when not root and user namespaces are disabled, the program runs as the
caller's uid: it can then write wherever the caller can (RLIMIT_FSIZE bounds file size only), and only the socket
patch (which `ctypes` could bypass) stands between it and the network. Without a writable cgroup, RLIMIT_AS is per
process, so the worst-case memory of one run is max_processes * memory_bytes (16 * 512 MiB by default). Programs may
import only modules readable by the sandbox uid: a fixed set of standard-library modules (what MBPP solutions use:
math, re, collections, heapq, itertools, functools, string, bisect, ...) is preloaded, and numpy too when the
program mentions it and it is installed. The program's stdout and stderr go to /dev/null (huge output costs only
CPU time, bounded by the CPU limit); its verdict travels on a private pipe, so closing stdout changes nothing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

_BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_boot.py")
STATUSES = ("passed", "failed", "timeout", "error")


@dataclasses.dataclass(frozen=True)
class Limits:
  cpu_seconds: int = 5  # RLIMIT_CPU: SIGXCPU after this much CPU time.
  wall_seconds: float = 10.0  # Wall clock after which the process group is killed.
  memory_bytes: int = 512 * 2**20  # RLIMIT_AS per process.
  max_processes: int = 16  # RLIMIT_NPROC for the run's uid (enforced when the run gets its own uid).
  max_file_bytes: int = 2**20  # RLIMIT_FSIZE.
  max_open_files: int = 64  # RLIMIT_NOFILE.
  total_memory_bytes: int = 1024 * 2**20  # Memory cgroup limit of the whole program (all its processes).


@dataclasses.dataclass(frozen=True)
class Verdict:
  status: str  # One of STATUSES.
  message: str = ""  # Short reason: the exception line, the signal, or the limit hit.
  seconds: float = 0.0  # Wall time of the run.
  isolation: tuple[str, ...] = ()  # What took effect: net, mount, pid, ipc, user, tmpfs, uid.

  @property
  def passed(self) -> bool:
    return self.status == "passed"


def _memory_cgroup_parent() -> tuple[str, int] | None:
  """(folder under which this process may make memory cgroups, cgroup version), or None."""
  try:
    with open("/proc/self/cgroup") as f:
      lines = f.read().splitlines()
  except OSError:
    return None
  for line in lines:
    _, controllers, path = line.split(":", 2)
    if controllers == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v2 (unified).
      folder = "/sys/fs/cgroup" + path
      try:
        with open(os.path.join(folder, "cgroup.controllers")) as f:
          if "memory" in f.read().split() and os.access(folder, os.W_OK):
            return folder, 2
      except OSError:
        pass
    if "memory" in controllers.split(","):  # cgroup v1.
      folder = os.path.join("/sys/fs/cgroup/memory", path.lstrip("/"))
      if os.path.isdir(folder) and os.access(folder, os.W_OK):
        return folder, 1
  return None


def _make_cgroup(name: str, limit: int) -> tuple[str, int] | None:
  """A fresh memory cgroup capped at `limit` bytes (swap included where the kernel accounts it), or None."""
  parent = _memory_cgroup_parent()
  if parent is None:
    return None
  folder, version = os.path.join(parent[0], name), parent[1]
  try:
    os.mkdir(folder)
    files = ((("memory.max", limit), ("memory.swap.max", 0)) if version == 2 else
             (("memory.limit_in_bytes", limit), ("memory.memsw.limit_in_bytes", limit)))
    for i, (fname, value) in enumerate(files):
      path = os.path.join(folder, fname)
      if i == 0 or os.path.exists(path):
        with open(path, "w") as f:
          f.write(str(value))
    return folder, version
  except OSError:
    _remove_cgroup((folder, version))
    return None


def _cgroup_oom_killed(cgroup: tuple[str, int] | None) -> bool:
  if cgroup is None:
    return False
  folder, version = cgroup
  try:
    if version == 2:
      with open(os.path.join(folder, "memory.events")) as f:
        return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in f)
    with open(os.path.join(folder, "memory.failcnt")) as f:
      failed = int(f.read().strip() or 0) > 0
    with open(os.path.join(folder, "memory.oom_control")) as f:
      kills = [int(line.split()[1]) for line in f if line.startswith("oom_kill ")]
    return bool(kills[0]) if kills else failed
  except (OSError, ValueError, IndexError):
    return False


def _remove_cgroup(cgroup: tuple[str, int] | None) -> None:
  """Kill what is left in the cgroup and remove it (retrying while the kernel reaps the processes)."""
  if cgroup is None:
    return
  folder = cgroup[0]
  for _ in range(50):
    try:
      with open(os.path.join(folder, "cgroup.procs")) as f:
        for pid in f.read().split():
          try:
            os.kill(int(pid), signal.SIGKILL)
          except (ProcessLookupError, PermissionError, ValueError):
            pass
      os.rmdir(folder)
      return
    except FileNotFoundError:
      return
    except OSError:
      time.sleep(0.02)


def hidden_paths() -> list[str]:
  """Folders a program must not read: the project checkout, the checkout holding the interpreter's virtual
  environment, the caller's working directory, $HOME, and any listed in $DATASYNTH_SANDBOX_HIDE (':'-separated)."""
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  venv_checkout = os.path.dirname(sys.prefix) if sys.prefix != sys.base_prefix else repo
  extra = [p for p in os.environ.get("DATASYNTH_SANDBOX_HIDE", "").split(os.pathsep) if p]
  out = []
  for path in (repo, venv_checkout, os.getcwd(), os.path.expanduser("~"), *extra):
    path = os.path.realpath(path)
    system = path == os.sep or path.startswith(("/usr", "/proc", "/sys", "/dev", "/tmp", "/etc", "/bin", "/lib"))
    if path not in out and not system:
      out.append(path)
  return out


_uid_lock = threading.Lock()
_uid_counter = 0


def _fresh_uid() -> int:
  """An unprivileged uid no account uses, distinct per run (per process and per call)."""
  global _uid_counter
  with _uid_lock:
    _uid_counter += 1
    return 2_000_000 + (os.getpid() % 8192) * 4096 + _uid_counter % 4096


def _kill_uid(uid: int) -> None:
  """Kill every process running as `uid` (stragglers that left the process group when no PID namespace held them)."""
  for entry in os.listdir("/proc"):
    if not entry.isdigit():
      continue
    try:
      with open(f"/proc/{entry}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
      if int(uids[0]) == uid or int(uids[1]) == uid:
        os.kill(int(entry), signal.SIGKILL)
    except (OSError, StopIteration, ValueError):
      pass


def _verdict_from_status(status: int, cpu_seconds: float, limits: Limits) -> tuple[str, str]:
  """Verdict of a program that died without reporting, from its wait status and CPU time."""
  xcpu = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGXCPU  # The program's SIGXCPU handler.
  if xcpu or cpu_seconds >= limits.cpu_seconds - 0.05:
    return "timeout", f"CPU limit of {limits.cpu_seconds}s"
  if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    if sig == signal.SIGXCPU:
      return "timeout", f"CPU limit of {limits.cpu_seconds}s"
    if sig == signal.SIGXFSZ:
      return "error", f"file size limit of {limits.max_file_bytes} bytes"
    return "error", f"killed by {signal.Signals(sig).name}"
  return "error", f"exited with status {os.WEXITSTATUS(status)} without a result"


def run_program(program: str, limits: Limits = Limits(), *, tmp_root: str | None = None) -> Verdict:
  """Run `program` (Python source) in the sandbox. Passed: it ran to the end; failed: an AssertionError; timeout:
  CPU or wall-clock limit; error: any other exception, signal or limit (message says which).

  tmp_root: where the run's empty working directory is made (default: the system temp dir); it is deleted after.
  """
  if not isinstance(program, str):
    raise ValueError(f"program must be Python source text, got {type(program).__name__}.")
  root = os.geteuid() == 0
  uid = _fresh_uid() if root else os.getuid()
  nonce = secrets.token_hex(16)
  workdir = tempfile.mkdtemp(prefix="datasynth-sandbox-", dir=tmp_root)
  start = time.monotonic()
  proc = None
  cgroup = _make_cgroup(f"datasynth-sandbox-{nonce[:12]}", limits.total_memory_bytes)
  try:
    os.chmod(workdir, 0o700)
    if root:
      os.chown(workdir, uid, uid)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # numpy's BLAS: one thread, small buffers.
    config = json.dumps(dict(program=program, nonce=nonce, uid=uid, limits=dataclasses.asdict(limits),
                             cgroup=cgroup[0] if cgroup else None,
                             hide=[p for p in hidden_paths() if not workdir.startswith(p + os.sep)]))
    proc = subprocess.Popen([sys.executable, "-I", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=workdir, env=env, start_new_session=True, close_fds=True)
    try:
      out, err = proc.communicate(config.encode(), timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
      _killpg(proc)
      proc.communicate()
      return Verdict("timeout", f"wall-clock limit of {limits.wall_seconds}s", time.monotonic() - start)
    seconds = time.monotonic() - start
    try:
      report = json.loads(out.decode(errors="replace").strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
      why = f"exit status {proc.returncode}" if proc.returncode >= 0 else (
          f"killed by {signal.Signals(-proc.returncode).name}")
      tail = err.decode(errors="replace").strip().splitlines()[-1:]
      return Verdict("error", f"sandbox bootstrap gave no report ({why}){': ' + tail[0] if tail else ''}"[:300],
                     seconds)
    isolation = tuple(report["isolation"])
    if _cgroup_oom_killed(cgroup):
      return Verdict("error", f"memory limit of {limits.total_memory_bytes} bytes for the whole program (cgroup)",
                     seconds, isolation)
    if report["result"] is not None:
      status, _, message = report["result"].partition(" ")
      if status not in STATUSES:
        status, message = "error", f"malformed result {report['result'][:80]!r}"
      elif status == "error" and message.startswith("MemoryError"):
        message = f"MemoryError (memory limit of {limits.memory_bytes} bytes)"
      return Verdict(status, message, seconds, isolation)
    status, message = _verdict_from_status(report["status"], report["cpu_seconds"], limits)
    return Verdict(status, message, seconds, isolation)
  finally:
    if proc is not None:
      _killpg(proc)
      if root:
        _kill_uid(uid)
    _remove_cgroup(cgroup)
    shutil.rmtree(workdir, ignore_errors=True)


def _killpg(proc: subprocess.Popen) -> None:
  try:
    os.killpg(proc.pid, signal.SIGKILL)
  except (ProcessLookupError, PermissionError):
    pass

"""Sandbox bootstrap: the intermediate process between `datasynth.evals.sandbox` and untrusted code.

Run as a script (`python -I _sandbox_boot.py`, standard library only). It reads a JSON config from stdin, isolates
itself (new network, mount, PID and IPC namespaces where the kernel allows; fresh tmpfs over the world-writable
directories), sets resource limits, drops to an unprivileged uid when started as root, then forks the program's
process (the init of the new PID namespace, so all its descendants die with it) and reports one JSON line on stdout:
{"result": "<status> <message>" | null, "status": waitpid status, "isolation": [...]}.

The program runs with stdin, stdout and stderr on /dev/null; its outcome travels through a private pipe and is only
trusted when prefixed with a nonce the caller sent on stdin.
"""
import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 1, 2, 4, 1 << 14, 1 << 18
PR_SET_PDEATHSIG = 1
# World-writable places an unprivileged process could write to; each gets a private, empty, small tmpfs.
WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
# Imported before privileges drop: the interpreter's own files may be unreadable to the sandbox uid (e.g. a pyenv
# under /root). These cover what MBPP-style programs import.
PRELOAD = ("re", "math", "cmath", "collections", "collections.abc", "heapq", "itertools", "functools", "operator",
           "array", "bisect", "copy", "datetime", "string", "statistics", "fractions", "decimal", "random",
           "typing", "json", "textwrap", "calendar", "struct", "numbers", "enum", "dataclasses", "time", "io",
           "traceback", "socket", "fnmatch", "difflib", "unicodedata", "queue", "hashlib", "base64", "binascii",
           "keyword", "ast", "sys", "copyreg", "pprint", "contextlib", "abc", "weakref", "types", "warnings")
# Imported as well when the program's text names them (large: not paid by every run).
PRELOAD_IF_NAMED = ("numpy",)

_libc = ctypes.CDLL(None, use_errno=True)


def _isolate(root: bool) -> list:
  """Enter new namespaces, strongest set the kernel allows. Returns the names of what took effect."""
  base = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC
  for flags in ([base] if root else []) + [base | CLONE_NEWUSER, CLONE_NEWNET | CLONE_NEWUSER]:
    if _libc.unshare(flags) == 0:
      names = [n for f, n in ((CLONE_NEWNET, "net"), (CLONE_NEWNS, "mount"), (CLONE_NEWPID, "pid"),
                              (CLONE_NEWIPC, "ipc"), (CLONE_NEWUSER, "user")) if flags & f]
      if flags & CLONE_NEWNS and _private_tmp():
        names.append("tmpfs")
      return names
  return []


def _private_tmp() -> bool:
  """Make mounts private to this namespace, then cover the world-writable directories with empty tmpfs."""
  if _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
    return False
  ok = True
  for d in WRITABLE_DIRS:
    if os.path.isdir(d):
      ok &= _libc.mount(b"tmpfs", d.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=4m,mode=1777") == 0
  return ok


def _join_cgroup(folder) -> bool:
  """Move this process (and so everything it forks) into the run's memory cgroup, made by the caller."""
  if not folder:
    return False
  try:
    with open(os.path.join(folder, "cgroup.procs"), "w") as f:
      f.write(str(os.getpid()))
    return True
  except OSError:
    return False


def _hide(paths) -> bool:
  """Cover folders the program must not read (project checkout, $HOME) with empty read-only tmpfs."""
  ok = bool(paths)
  for path in paths:
    if os.path.isdir(path):
      ok &= _libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                        b"size=4k,mode=0555") == 0
  return ok


def _preload(program: str) -> None:
  names = list(PRELOAD) + [n for n in PRELOAD_IF_NAMED if n in program]
  for name in names:
    try:
      __import__(name)
    except ImportError:
      pass


def _count_processes(uid: int) -> int:
  n = 0
  for entry in os.listdir("/proc"):
    try:
      n += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
    except OSError:
      pass
  return n


def _limit(cfg: dict, root: bool) -> None:
  lim = cfg["limits"]
  # RLIMIT_NPROC counts all processes of the real uid: a run with its own uid starts from zero, a run under the
  # caller's uid may add max_processes to what the caller already has.
  nproc = lim["max_processes"] + (0 if root else _count_processes(os.getuid()))
  for res, value in ((resource.RLIMIT_CPU, lim["cpu_seconds"]), (resource.RLIMIT_AS, lim["memory_bytes"]),
                     (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_FSIZE, lim["max_file_bytes"]),
                     (resource.RLIMIT_NOFILE, lim["max_open_files"]), (resource.RLIMIT_CORE, 0)):
    hard = value + 1 if res == resource.RLIMIT_CPU else value  # CPU: SIGXCPU at soft, SIGKILL at hard.
    resource.setrlimit(res, (value, hard))


def _block_sockets() -> None:
  """Second line of defence when no network namespace could be made: socket creation raises."""
  import _socket
  import socket

  def blocked(*args, **kwargs):
    raise PermissionError("network access is disabled in the sandbox")
  for mod in (socket, _socket):
    for name in ("socket", "socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
      if hasattr(mod, name):
        setattr(mod, name, blocked)


def _run_program(cfg: dict, result_fd: int) -> None:
  """In the forked child: run the program and report `<nonce> <status> <message>`; never returns."""
  try:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # Die with the bootstrap.
    # As the init of a PID namespace the program would ignore SIGXCPU's default action; make it fatal.
    signal.signal(signal.SIGXCPU, lambda *_: os._exit(128 + signal.SIGXCPU))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
      os.dup2(devnull, fd)
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, 4096)
    _block_sockets()
    code = compile(cfg["program"], "<program>", "exec")
  except BaseException as e:  # pylint: disable=broad-except
    os.write(result_fd, f"{cfg['nonce']} error {type(e).__name__}: {e}"[:400].encode())
    os._exit(1)
  me = os.getpid()
  try:
    exec(code, {"__name__": "__sandbox__", "__builtins__": __builtins__})  # pylint: disable=exec-used
    report = "passed"
  except AssertionError as e:
    report = f"failed AssertionError: {e}"
  except BaseException as e:  # pylint: disable=broad-except
    report = f"error {type(e).__name__}: {e}"
  try:
    if os.getpid() == me:  # Processes the program forked fall through here too; only the program reports.
      os.write(result_fd, f"{cfg['nonce']} {report}"[:400].encode())
  finally:
    os._exit(0)


def main() -> None:
  cfg = json.loads(sys.stdin.read())
  devnull = os.open(os.devnull, os.O_RDONLY)
  os.dup2(devnull, 0)
  root = os.geteuid() == 0
  in_cgroup = _join_cgroup(cfg.get("cgroup"))
  isolation = _isolate(root)
  if in_cgroup:
    isolation.append("cgroup")
  _preload(cfg["program"])
  if "mount" in isolation and _hide(cfg.get("hide") or []):
    isolation.append("hidden")
  _limit(cfg, root)
  if root:
    uid = cfg["uid"]
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    isolation.append("uid")
  read_fd, write_fd = os.pipe()
  pid = os.fork()
  if pid == 0:
    os.close(read_fd)
    _run_program(cfg, write_fd)
  os.close(write_fd)
  _, status, usage = os.wait4(pid, 0)
  os.set_blocking(read_fd, False)
  try:
    raw = os.read(read_fd, 4096).decode(errors="replace")
  except BlockingIOError:
    raw = ""
  result = raw.split(cfg["nonce"])[1].strip() if raw.startswith(cfg["nonce"] + " ") else None
  sys.stdout.write(json.dumps(dict(result=result, status=status, cpu_seconds=usage.ru_utime + usage.ru_stime,
                              isolation=isolation)) + "\n")
  sys.stdout.flush()
  os._exit(0)


if __name__ == "__main__":
  main()

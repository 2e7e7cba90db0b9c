"""The sandbox against hostile programs: each is contained and gets the right verdict, and this process survives."""
import os
import socket
import subprocess
import time

import pytest

from datasynth.evals.sandbox import Limits, hidden_paths, run_program

FAST = Limits(cpu_seconds=2, wall_seconds=6)


def test_plain_outcomes():
  assert run_program("def f(x):\n  return x + 1\nassert f(1) == 2").status == "passed"
  v = run_program("assert 1 == 2, 'nope'")
  assert (v.status, v.message) == ("failed", "AssertionError: nope")
  v = run_program("undefined_name")
  assert v.status == "error" and "NameError" in v.message
  assert run_program("def f(:\n  pass").status == "error"  # SyntaxError.


def test_early_exit_is_not_a_pass():
  assert run_program("import sys\nsys.exit(0)\nassert False").status == "error"
  v = run_program("import os\nos._exit(0)\nassert False")
  assert v.status == "error" and "without a result" in v.message


def test_infinite_loop_times_out():
  v = run_program("while True:\n  pass", FAST)
  assert v.status == "timeout", v
  assert v.seconds < FAST.wall_seconds + 2


def test_sleeping_program_hits_wall_clock():
  v = run_program("import time\ntime.sleep(60)", Limits(cpu_seconds=2, wall_seconds=1.5))
  assert v.status == "timeout" and "wall-clock" in v.message and v.seconds < 5


def test_fork_bomb_is_contained():
  start = time.monotonic()
  v = run_program("import os\nwhile True:\n  os.fork()", FAST)
  assert v.status in ("error", "timeout"), v
  if "uid" in v.isolation:  # Own uid: RLIMIT_NPROC is enforced and stops the bomb quickly.
    assert v.status == "error" and v.message.startswith("BlockingIOError"), v
    assert v.message.count("BlockingIOError") == 1, v  # Only the program reports, not the processes it forked.
  assert time.monotonic() - start < FAST.wall_seconds + 3
  # The machine is fine: we can still start processes.
  assert subprocess.run(["true"], check=False).returncode == 0


def test_memory_bomb_is_contained():
  v = run_program("x = bytearray(8 * 1024**3)", Limits(memory_bytes=256 * 2**20))
  assert v.status == "error" and "MemoryError" in v.message
  v = run_program("x = []\nwhile True:\n  x.append(bytearray(10**7))", Limits(memory_bytes=256 * 2**20))
  assert v.status == "error" and "MemoryError" in v.message


def test_writes_outside_the_workdir_do_not_land(tmp_path):
  isolation = run_program("pass").isolation
  if "tmpfs" not in isolation and "uid" not in isolation:
    pytest.skip("neither a mount namespace nor a separate uid is available: the program can write wherever this "
                "process can (documented limitation; RLIMIT_FSIZE still bounds file size)")
  target = tmp_path / "escaped.txt"
  v = run_program(f"open({str(target)!r}, 'w').write('x')")
  assert not v.passed and not target.exists(), v
  # A world-writable shared path: either refused or redirected to the run's private tmpfs.
  shared = f"/tmp/datasynth-sandbox-escape-{os.getpid()}.txt"
  run_program(f"open({shared!r}, 'w').write('x')")
  landed = os.path.exists(shared)
  if landed:
    os.remove(shared)
  assert not landed or "tmpfs" not in isolation


def test_workdir_is_private_empty_and_removed(tmp_path):
  root = tmp_path / "runs"
  root.mkdir()
  prog = ("import os\nassert os.listdir('.') == []\nopen('a.txt', 'w').write('hello')\n"
          "assert open('a.txt').read() == 'hello'")
  assert run_program(prog, tmp_root=str(root)).status == "passed"
  assert list(root.iterdir()) == []


def test_file_size_limit():
  v = run_program("open('big', 'w').write('x' * 10**7)", Limits(max_file_bytes=2**20))
  assert v.status == "error" and "File too large" in v.message


def test_socket_creation_fails():
  v = run_program("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))")
  assert v.status == "error" and "network" in v.message


def test_no_network_even_bypassing_python(tmp_path):
  """A raw libc connect() to a port this process listens on must not arrive (needs a network namespace)."""
  if "net" not in run_program("pass").isolation:
    pytest.skip("no network namespace on this machine; only the socket patch applies (documented limitation)")
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen(1)
  server.settimeout(0.5)
  port = server.getsockname()[1]
  prog = f"""
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)
addr = struct.pack('<HH4s8x', 2, int.from_bytes(struct.pack('>H', {port}), 'little'), bytes([127, 0, 0, 1]))
rc = libc.connect(fd, addr, len(addr))
assert rc == 0, 'connect failed'
"""
  v = run_program(prog)
  assert v.status == "failed", v
  with pytest.raises(OSError):  # socket.timeout is an OSError: nobody connected.
    server.accept()
  server.close()


def test_killing_the_parent_spares_the_caller():
  me = os.getpid()
  v = run_program("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
  assert not v.passed
  v = run_program(f"import os, signal\nos.kill({me}, signal.SIGKILL)")
  assert not v.passed
  v = run_program("import os, signal\nos.kill(-1, signal.SIGKILL)")
  assert not v.passed
  assert os.getpid() == me  # Still here.


def test_environment_scrubbed_and_stdin_closed(monkeypatch):
  monkeypatch.setenv("DATASYNTH_SECRET_TOKEN", "do-not-leak")
  prog = "import os, sys\nassert 'DATASYNTH_SECRET_TOKEN' not in os.environ\nassert sys.stdin.read() == ''"
  assert run_program(prog).status == "passed"


def test_bad_program_type():
  with pytest.raises(ValueError, match="source text"):
    run_program(b"print(1)")


# ------------------------------------------------------------------------ whole-program memory, imports, hostile code
def test_memory_limit_holds_for_the_program_as_a_whole():
  """8 forked processes of 200 MiB each: under RLIMIT_AS alone (400 MiB per process) all would fit."""
  if "cgroup" not in run_program("pass").isolation:
    pytest.skip("no writable memory cgroup (v2 memory.max or v1 memory.limit_in_bytes) on this machine: the total "
                "is bounded only by max_processes x memory_bytes (documented fallback)")
  prog = ("import os, time\nfor i in range(8):\n  if os.fork() == 0:\n    break\nx = bytearray(200 * 2**20)\n"
          "for j in range(0, len(x), 4096):\n  x[j] = 1\ntime.sleep(2)")
  v = run_program(prog, Limits(memory_bytes=400 * 2**20, total_memory_bytes=512 * 2**20, wall_seconds=20))
  assert v.status == "error" and "for the whole program" in v.message, v
  assert run_program("x = bytearray(100 * 2**20)", Limits(total_memory_bytes=512 * 2**20)).passed


@pytest.mark.parametrize("module", ["math", "re", "collections", "heapq", "itertools", "functools", "string",
                                    "bisect", "statistics", "fractions", "operator", "copy"])
def test_programs_can_import_what_mbpp_solutions_use(module):
  assert run_program(f"import {module}\nassert {module}.__name__ == {module!r}").passed


def test_programs_can_import_numpy_when_installed():
  pytest.importorskip("numpy")
  v = run_program("import numpy as np\nassert int(np.arange(4).sum()) == 6")
  assert v.passed, v


def test_huge_output_is_bounded_and_does_not_hang():
  v = run_program("while True:\n  print('x' * 10**6)", FAST)
  assert v.status == "timeout" and v.seconds < FAST.wall_seconds + 2, v


def test_deep_recursion_is_an_error_not_a_crash_of_the_caller():
  v = run_program("def f(n):\n  return f(n + 1)\nf(0)", FAST)
  assert v.status == "error" and "RecursionError" in v.message, v
  v = run_program("import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n  return f(n + 1)\nf(0)", FAST)
  assert v.status in ("error", "timeout") and not v.passed, v  # A C-stack overflow: killed by SIGSEGV.


def test_os_system_cannot_write_outside_or_reach_the_network(tmp_path):
  isolation = run_program("pass").isolation
  if "uid" not in isolation and "mount" not in isolation:
    pytest.skip("no separate uid or mount namespace: os.system's shell writes wherever this process can")
  target = tmp_path / "from-shell.txt"
  v = run_program(f"import os\nrc = os.system('echo x > {target}')\nassert rc != 0, rc")
  assert v.passed and not target.exists(), v
  assert run_program("import os\nassert os.system('echo hi > here.txt') == 0\nassert open('here.txt').read() == "
                     "'hi\\n'").passed


def test_reading_the_project_checkout_home_and_shadow_is_refused():
  isolation = run_program("pass").isolation
  if "hidden" not in isolation:
    pytest.skip("no mount namespace: the project files are readable wherever the sandbox uid's permissions allow")
  readme = os.path.join(hidden_paths()[0], "README.md")
  assert os.path.exists(readme)
  v = run_program(f"open({readme!r}).read()")
  assert v.status == "error" and "FileNotFoundError" in v.message, v
  v = run_program(f"import os\nassert os.listdir({os.path.expanduser('~')!r}) == []")
  assert v.passed, v
  if "uid" in isolation and os.path.exists("/etc/shadow"):
    v = run_program("open('/etc/shadow').read()")
    assert v.status == "error" and "PermissionError" in v.message, v


def test_a_program_that_closes_stdout_still_gets_its_verdict():
  assert run_program("import os, sys\nos.close(1)\nos.close(2)\nsys.stdout = None\nassert 1 + 1 == 2").passed
  v = run_program("import sys\nsys.stdout.close()\nprint('x')")
  assert v.status == "error" and "ValueError" in v.message, v

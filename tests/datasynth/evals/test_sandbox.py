"""The sandbox against hostile programs: each is contained and gets the right verdict, and this process survives."""
import os
import socket
import subprocess
import time

import pytest

from datasynth.evals.sandbox import Limits, run_program

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

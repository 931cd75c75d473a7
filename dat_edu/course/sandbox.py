"""The bubblewrap sandbox one learner's notebook runs in.

What the notebook's process gets: its own user (uid/gid 65534), pid, network, ipc, uts and mount
namespaces (no network at all; it sees only its own processes), a read-only view of the Python
installation and the ``dat_edu`` package (nothing else of the repository: no solutions, no other
submissions, no gradebook), a private writable ``/tmp`` of limited size (its working folder is
``/tmp/work``), a cleared environment, resource limits (address space, CPU seconds, file size, open
files, no core dumps) and a seccomp filter that refuses to create processes (threads are fine) and
a few kernel interfaces a notebook never needs. The whole sandbox dies with the judge that started
it (``--die-with-parent``), and with it every thread the notebook started.
"""
from __future__ import annotations

import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

HOW_TO_GET = (
    "Grading runs every notebook in a bubblewrap sandbox (Linux only). Install it with "
    "`sudo apt-get install bubblewrap` (Debian, Ubuntu), `sudo dnf install bubblewrap` (Fedora) or "
    "`sudo pacman -S bubblewrap` (Arch). On Ubuntu 24.04 and later, unprivileged user namespaces are "
    "restricted by AppArmor: allow them with `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`. "
    "On macOS or Windows, grade on a Linux machine, VM or CI runner. To grade trusted notebooks without "
    "isolation, pass --no-sandbox (recorded in the gradebook)."
)


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096  # address space of the notebook's process
    cpu_s: int = 660  # CPU seconds
    file_mb: int = 64  # largest file it may write
    tmp_mb: int = 256  # size of its /tmp
    open_files: int = 1024


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or does not work here; the message says why and how to fix it."""


# ---------------------------------------------------------------- seccomp -------

_ALLOW, _ERRNO, _KILL = 0x7FFF0000, 0x00050000, 0x80000000
EPERM, ENOSYS = 1, 38
CLONE_THREAD = 0x00010000
# arch -> (audit arch, syscalls refused with EPERM, clone, clone3)
_SYSCALLS = {
    "x86_64": (0xC000003E, {
        "fork": 57, "vfork": 58, "ptrace": 101, "mount": 165, "umount2": 166, "pivot_root": 155,
        "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "keyctl": 250, "add_key": 248, "request_key": 249, "kexec_load": 246, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "io_uring_setup": 425, "process_vm_readv": 310,
        "process_vm_writev": 311, "open_by_handle_at": 304}, 56, 435),
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "mount": 40, "umount2": 39, "pivot_root": 41, "unshare": 97, "setns": 268,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "kexec_load": 104, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "io_uring_setup": 425, "process_vm_readv": 270, "process_vm_writev": 271,
        "open_by_handle_at": 265}, 220, 435),
}


def seccomp_filter(machine: str | None = None) -> bytes | None:
    """A classic-BPF seccomp program (bubblewrap's ``--seccomp`` format), or None for an unknown CPU.

    Process creation is refused: ``clone`` without ``CLONE_THREAD`` and ``fork``/``vfork`` get
    EPERM; ``clone3`` gets ENOSYS, so that the C library falls back to ``clone`` for threads.
    Syscalls of another ABI (32-bit, x32) are refused.
    """
    machine = machine or platform.machine()
    if machine not in _SYSCALLS:
        return None
    arch, refused, clone, clone3 = _SYSCALLS[machine]
    ld_abs, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    prog: list[tuple[int, int, int, int]] = []
    # [0] arch check; [1] jump; [2] refuse other ABIs
    prog += [(ld_abs, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, _ERRNO | EPERM), (ld_abs, 0, 0, 0)]
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, _ERRNO | EPERM)]  # x32 ABI
    for nr in sorted(refused.values()):
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, _ERRNO | EPERM)]
    prog += [(jeq, 0, 1, clone3), (ret, 0, 0, _ERRNO | ENOSYS)]
    # clone: allowed only for threads (flags are the first argument on both ABIs)
    prog += [(jeq, 0, 4, clone), (ld_abs, 0, 0, 16), (jset, 1, 0, CLONE_THREAD),
             (ret, 0, 0, _ERRNO | EPERM), (ret, 0, 0, _ALLOW)]
    prog += [(ret, 0, 0, _ALLOW)]
    return b"".join(struct.pack("<HBBI", *ins) for ins in prog)


# ---------------------------------------------------------------- the command ----

def python_paths() -> list[str]:
    """Read-only folders the harness's Python needs: the installation, the environment, dat_edu."""
    import dat_edu

    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), str(Path(dat_edu.__file__).resolve().parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p and os.path.isdir(p):
            paths.add(os.path.realpath(p))
    exe = os.path.realpath(sys.executable)
    paths.add(os.path.dirname(exe))
    # keep only the outermost folders (a bind inside a bind is redundant)
    out: list[str] = []
    for p in sorted(paths, key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return [p for p in out if p not in ("/", "/usr")]


def environment(grading: bool = True) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp/home",
        "USER": "learner",
        "LOGNAME": "learner",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/home/.config/matplotlib",
        "IPYTHONDIR": "/tmp/home/.ipython",
        "XDG_CACHE_HOME": "/tmp/home/.cache",
        "PYTHONSAFEPATH": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "DAT_EDU_MODE": "pinned",
    }
    if grading:
        env["DAT_EDU_GRADING"] = "1"
    return env


def bwrap_command(python_argv: list[str], limits: Limits, seccomp_fd: int | None) -> list[str]:
    cmd = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534",
        "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv",
        "--ro-bind", "/usr", "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = "/" + name
        if os.path.islink(p):
            cmd += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            cmd += ["--ro-bind", p, p]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        cmd += ["--ro-bind-try", f, f]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
            "--dir", "/tmp/home", "--dir", "/tmp/work"]
    # after the private /tmp: an environment or checkout that lives under /tmp (a CI clone) stays visible
    for p in python_paths():
        if p in ("/tmp", "/proc", "/dev") or any(p == d or p.startswith(d + "/") for d in ("/tmp/home", "/tmp/work")):
            raise SandboxUnavailable(f"the Python environment or dat_edu lies in {p}, which the sandbox "
                                     "replaces with its own folder; install the course somewhere else")
        cmd += ["--ro-bind", p, p]
    cmd += ["--chdir", "/tmp/work"]
    for key, value in environment().items():
        cmd += ["--setenv", key, value]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    return cmd + ["--", *python_argv]


def _set_limits(limits: Limits) -> None:
    mb = 1 << 20
    for res, value in (
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        soft, hard = resource.getrlimit(res)
        new_hard = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (min(value, new_hard), new_hard))


def package_parent() -> str:
    """The folder holding the ``dat_edu`` package (in the sandbox it holds nothing else)."""
    import dat_edu

    return str(Path(dat_edu.__file__).resolve().parent.parent)


def bootstrap(module: str, *args: str) -> list[str]:
    """``python -c`` that runs ``module.main(args)`` with the package importable even when it is not
    installed (only its own folder is appended to sys.path; -P keeps the working folder off it)."""
    code = f"import sys; sys.path.append({package_parent()!r}); from {module} import main; main({list(args)!r})"
    return [sys.executable, "-P", "-c", code]


def harness_argv(read_fd: int, write_fd: int) -> list[str]:
    argv = bootstrap("dat_edu.course.harness", str(read_fd), str(write_fd))
    return [argv[0], "-I", *argv[1:]]


def start(read_fd: int, write_fd: int, limits: Limits, sandboxed: bool = True) -> subprocess.Popen:
    """Start the harness; it reads frames on ``read_fd`` and writes them on ``write_fd``.

    Its stdin, stdout and stderr are /dev/null (C-level prints go nowhere). Without ``sandboxed``
    (``--no-sandbox``) it runs as this user in a fresh temporary folder, in its own session, with
    the same environment and limits but no isolation.
    """
    pass_fds = [read_fd, write_fd]
    argv = harness_argv(read_fd, write_fd)
    tmp = None
    if sandboxed:
        program = seccomp_filter()
        if program is not None:
            tmp = tempfile.TemporaryFile()
            tmp.write(program)
            tmp.seek(0)
            pass_fds.append(tmp.fileno())
        argv = bwrap_command(argv, limits, tmp.fileno() if tmp else None)
        cwd, env = "/", {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        cwd = tempfile.mkdtemp(prefix="dat_edu_nosandbox_")
        env = environment()
        env["HOME"] = env["MPLCONFIGDIR"] = env["IPYTHONDIR"] = env["XDG_CACHE_HOME"] = cwd
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=cwd, env=env, close_fds=True, pass_fds=pass_fds, start_new_session=not sandboxed,
            preexec_fn=lambda: _set_limits(limits),
        )
        proc.scratch = None if sandboxed else cwd  # the judge removes it when the notebook is done
        return proc
    finally:
        if tmp is not None:
            tmp.close()


_SELF_TEST = (
    "import os, socket\n"
    "try:\n    os.fork()\n    forked = 'fork allowed'\nexcept PermissionError:\n    forked = 'fork refused'\n"
    "print(os.getuid(), forked, os.path.exists('/proc/1/cmdline'), sep=',')\n"
)


def self_test(limits: Limits = Limits()) -> str:
    """Run a tiny program in the sandbox; return a one-line description, or raise SandboxUnavailable."""
    if sys.platform != "linux":
        raise SandboxUnavailable(f"this is {platform.system()}, not Linux. {HOW_TO_GET}")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed. {HOW_TO_GET}")
    program = seccomp_filter()
    with tempfile.TemporaryFile() as tmp:
        if program is not None:
            tmp.write(program)
            tmp.seek(0)
        fd = tmp.fileno()
        argv = bwrap_command([sys.executable, "-I", "-c", _SELF_TEST], limits, fd if program else None)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60, pass_fds=(fd,),
                                 preexec_fn=lambda: _set_limits(limits))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bubblewrap could not be run ({exc}). {HOW_TO_GET}") from None
    if out.returncode != 0:
        err = " ".join(out.stderr.split())[:300]
        raise SandboxUnavailable(f"bubblewrap fails on this machine: {err or 'exit status %d' % out.returncode}. {HOW_TO_GET}")
    uid, forked, _ = (out.stdout.strip().split(",") + ["", "", ""])[:3]
    if uid != "65534" or (program is not None and forked != "fork refused"):
        raise SandboxUnavailable(f"the sandbox self-test failed (uid {uid}, {forked}). {HOW_TO_GET}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    blocked = "processes refused" if program is not None else f"processes NOT refused (no seccomp filter for {platform.machine()})"
    return f"{version or 'bubblewrap'} sandbox ({blocked})"

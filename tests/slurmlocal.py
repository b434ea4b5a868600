"""A one-node Slurm cluster on this machine (slurmctld + slurmd on localhost, munge auth) for the tests that submit
datatrove's SlurmPipelineExecutor jobs.

`ensure_cluster(root)` reuses a cluster that already answers, or installs Debian's slurm-wlm and munge (as root, with
apt-get), writes `root/slurm.conf` (node = this machine's CPUs and memory as `slurmd -C` reports them, partition
`debug`, no accounting, no cgroups: containers seldom have them), starts munged, slurmctld and slurmd, and waits until
the node is idle. It returns the partition name, or None with the reason in `slurmlocal.reason`. It sets SLURM_CONF in
os.environ so that sbatch/squeue of this process and its children find the cluster; /etc/slurm/slurm.conf is linked
to the same file when that path is free, so plain `sinfo` works in a shell too.

Tests take the `slurm_partition` fixture (`from slurmlocal import slurm_partition`): a skip when no cluster can be
had, a failure under CI=true. The fixture stops the daemons it started at the end of the session unless
CURATE_SLURM_KEEP=1. From a shell: `python tests/slurmlocal.py start|status|stop [ROOT]` (ROOT defaults to
$CURATE_SLURM_ROOT or /tmp/curate-slurm).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

PARTITION = "debug"
MARKER = "# written by curate tests/slurmlocal.py"
PACKAGES = ["slurm-wlm", "munge"]  # 8 debs (slurmctld, slurmd, slurm-client, plugins, munge...): 12-14 s here
DAEMONS = ["slurmctld", "slurmd", "munged", "sbatch", "sinfo", "munge"]
USABLE = {"idle", "mixed", "allocated", "completing"}
MUNGE_SOCKET_DIR = Path("/run/munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
ETC_CONF = Path("/etc/slurm/slurm.conf")

reason: str | None = None  # why the last ensure_cluster() returned None
timings: dict[str, float] = {}  # seconds: install, munge, start (daemons up to node idle)
_root: Path | None = None  # the folder of the cluster ensure_cluster() started (None: reused or none)


def default_root() -> Path:
    return Path(os.environ.get("CURATE_SLURM_ROOT") or Path(tempfile.gettempdir()) / "curate-slurm")


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")


def _run(cmd: list[str], timeout: float = 30, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _env(conf: Path | None) -> dict:
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    if conf is not None:
        env["SLURM_CONF"] = str(conf)
    return env


def _nodes(conf: Path | None) -> list[tuple[str, str, str]] | None:
    """(partition, node, state) rows of `sinfo`, partition '*'-suffixed when default; None when nobody answers."""
    if not _which("sinfo"):
        return None
    try:
        r = _run(["sinfo", "-h", "-N", "-o", "%P %N %T"], timeout=15, env=_env(conf))
    except (subprocess.TimeoutExpired, OSError):
        return None
    if r.returncode != 0:
        return None
    return [tuple(line.split()[:3]) for line in r.stdout.splitlines() if len(line.split()) >= 3]  # type: ignore[misc]


def _usable_partition(conf: Path | None) -> str | None:
    rows = _nodes(conf)
    if not rows:
        return None
    ready = [p for p, _, state in rows if state in USABLE]
    if not ready:
        return None
    default = [p for p in ready if p.endswith("*")]
    return (default or ready)[0].rstrip("*")


def _fail(message: str) -> None:
    global reason
    reason = message


def _install() -> str | None:
    """Installs the Debian packages; returns an error message or None."""
    if os.geteuid() != 0:
        return f"slurm/munge not installed and not root (uid {os.geteuid()}): apt-get install {' '.join(PACKAGES)}"
    if not _which("apt-get"):
        return "slurm/munge not installed and no apt-get on this machine"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    t0 = time.monotonic()
    r = _run(cmd, timeout=900, env=env)
    if r.returncode != 0:  # stale or missing package lists: update, then once more
        u = _run(["apt-get", "update", "-q"], timeout=600, env=env)
        r = _run(cmd, timeout=900, env=env)
        if r.returncode != 0:
            return f"`{' '.join(cmd)}` failed ({r.returncode}): {(u.stderr + r.stderr + r.stdout)[-2000:]}"
    timings["install"] = time.monotonic() - t0
    missing = [d for d in DAEMONS if not _which(d)]
    return f"installed {PACKAGES} but {missing} still not found" if missing else None


def _munge_ok() -> bool:
    try:
        return _run(["munge", "-n"], timeout=10).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def _start_munge(root: Path) -> str | None:
    if _munge_ok():
        return None
    t0 = time.monotonic()
    if not MUNGE_KEY.exists():
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        r = _run(["mungekey", "--create", f"--keyfile={MUNGE_KEY}"])
        if r.returncode != 0:
            MUNGE_KEY.write_bytes(os.urandom(1024))
        MUNGE_KEY.chmod(0o600)
        shutil.chown(MUNGE_KEY, "munge", "munge")
    for folder, mode in ((MUNGE_SOCKET_DIR, 0o755), (Path("/var/lib/munge"), 0o711), (Path("/var/log/munge"), 0o700)):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(mode)
        shutil.chown(folder, "munge", "munge")
    r = _run(["runuser", "-u", "munge", "--", _which("munged") or "munged"], start_new_session=True)
    for _ in range(50):
        if _munge_ok():
            (root / "munged.started").write_text(str(time.time()))
            timings["munge"] = time.monotonic() - t0
            return None
        time.sleep(0.1)
    log = Path("/var/log/munge/munged.log")
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    return f"munged did not start (rc {r.returncode}): {r.stderr.strip()} {tail}"


def _hardware() -> dict[str, str] | None:
    """`slurmd -C`'s first line as a dict: NodeName, CPUs, Boards, SocketsPerBoard, ..., RealMemory."""
    r = _run([_which("slurmd") or "slurmd", "-C"], timeout=30)
    if r.returncode != 0 or not r.stdout.startswith("NodeName="):
        return None
    return dict(f.split("=", 1) for f in r.stdout.splitlines()[0].split() if "=" in f)


def write_config(root: Path, hw: dict[str, str]) -> Path:
    node = hw["NodeName"]
    layout = " ".join(
        f"{k}={hw[k]}"
        for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
        if k in hw
    )
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        f"""{MARKER}
ClusterName=curate
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# a job whose afterok dependency failed is cancelled instead of pending forever (DependencyNeverSatisfied)
DependencyParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MaxArraySize=10001
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName={node} NodeAddr=127.0.0.1 {layout} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    # plain `sinfo`/`sbatch` in a shell read /etc/slurm/slurm.conf: link it when the path is free or already ours
    try:
        if ETC_CONF.is_symlink() or not ETC_CONF.exists() or MARKER in ETC_CONF.read_text(errors="replace"):
            ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
            if ETC_CONF.is_symlink() or ETC_CONF.exists():
                ETC_CONF.unlink()
            ETC_CONF.symlink_to(conf)
    except OSError:
        pass
    return conf


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def _kill_ours(root: Path) -> None:
    for name in ("slurmd", "slurmctld"):
        pid = _pid(root / f"{name}.pid")
        if pid:
            os.kill(pid, 15)
            for _ in range(50):
                if not _pid(root / f"{name}.pid"):
                    break
                time.sleep(0.1)


def _log_tails(root: Path) -> str:
    out = []
    for name in ("slurmctld", "slurmd"):
        log = root / "log" / f"{name}.log"
        if log.exists():
            lines = [x for x in log.read_text(errors="replace").splitlines() if "pmix" not in x.lower()]
            out.append(f"--- {log} ---\n" + "\n".join(lines[-15:]))
    return "\n".join(out)


def ensure_cluster(tmp_root: Path) -> str | None:
    """The partition of a running one-node cluster (started under tmp_root when none answers), or None (see
    `reason`)."""
    global reason
    reason = None
    try:
        return _ensure(tmp_root)
    except Exception as e:  # an unexpected error is a reason like the others: the caller skips or fails with it
        return _fail(f"{type(e).__name__}: {e}")


def _ensure(tmp_root: Path) -> str | None:
    global _root
    root = Path(tmp_root).resolve()
    conf = root / "slurm.conf"
    # 1. reuse: our cluster under this root, else whatever SLURM_CONF / /etc/slurm/slurm.conf points to
    candidates = [conf] if conf.exists() else []
    if os.environ.get("SLURM_CONF") or ETC_CONF.exists():
        candidates.append(Path(os.environ.get("SLURM_CONF") or ETC_CONF))
    for candidate in candidates:
        if _munge_ok() and (partition := _usable_partition(candidate)):
            os.environ["SLURM_CONF"] = str(candidate)
            return partition
    if os.geteuid() != 0:
        return _fail(f"no Slurm cluster answers, and installing/starting one needs root (uid {os.geteuid()})")
    # 2. install
    if any(not _which(d) for d in DAEMONS):
        if error := _install():
            return _fail(error)
    root.mkdir(parents=True, exist_ok=True)
    # 3. munge, config, daemons
    if error := _start_munge(root):
        return _fail(error)
    hw = _hardware()
    if hw is None:
        return _fail("`slurmd -C` did not report this machine's CPUs and memory")
    t0 = time.monotonic()
    _kill_ours(root)  # stale daemons of an earlier start that no longer answer
    conf = write_config(root, hw)
    env = {"PATH": _env(None)["PATH"], "SLURM_CONF": str(conf), "HOME": os.environ.get("HOME", "/root")}
    for cmd in (["slurmctld", "-c", "-f", str(conf)], ["slurmd", "-f", str(conf)]):
        r = _run([_which(cmd[0]) or cmd[0], *cmd[1:]], env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        if r.returncode != 0:
            return _fail(f"`{' '.join(cmd)}` failed ({r.returncode}): {r.stderr.strip()}\n{_log_tails(root)}")
    os.environ["SLURM_CONF"] = str(conf)
    _root = root
    resumed = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if partition := _usable_partition(conf):
            timings["start"] = time.monotonic() - t0
            (root / "timings.json").write_text(json.dumps(timings))
            return partition
        rows = _nodes(conf) or []
        if not resumed and time.monotonic() > deadline - 45 and any("down" in s or "drain" in s for *_, s in rows):
            _run(["scontrol", "update", f"NodeName={hw['NodeName']}", "State=RESUME"], env=env)
            resumed = True
        time.sleep(0.2)
    return _fail(f"node not idle after 60 s: sinfo {_nodes(conf)}\n{_log_tails(root)}")


def stop_cluster(tmp_root: Path | None = None) -> None:
    """Stops slurmctld and slurmd of the cluster under tmp_root (default: the one ensure_cluster started, else
    default_root()), and munged when that start had started it. Jobs still running are killed."""
    global _root
    root = Path(tmp_root or _root or default_root()).resolve()
    conf = root / "slurm.conf"
    if conf.exists() and _which("scontrol"):
        try:
            _run(["scontrol", "shutdown"], timeout=15, env=_env(conf))
        except subprocess.TimeoutExpired:
            pass
        for _ in range(50):
            if not _pid(root / "slurmctld.pid") and not _pid(root / "slurmd.pid"):
                break
            time.sleep(0.1)
    _kill_ours(root)
    started = root / "munged.started"
    if started.exists():
        if _which("munged"):
            _run([_which("munged") or "munged", "--stop"], timeout=15)
        started.unlink()
    if ETC_CONF.is_symlink() and ETC_CONF.resolve() == conf:
        ETC_CONF.unlink()
    if os.environ.get("SLURM_CONF") == str(conf):
        del os.environ["SLURM_CONF"]
    _root = None


@pytest.fixture(scope="session")
def slurm_partition():
    """The partition of a one-node Slurm cluster on this machine; skips (fails under CI=true) when none can be had."""
    partition = ensure_cluster(default_root())
    if partition is None:
        message = f"no local Slurm cluster: {reason}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    started = _root
    yield partition
    if started is not None and os.environ.get("CURATE_SLURM_KEEP") != "1":
        stop_cluster(started)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    where = Path(sys.argv[2]) if len(sys.argv) > 2 else default_root()
    if action == "stop":
        stop_cluster(where)
        print("stopped")
    elif action in ("start", "status"):
        t = time.monotonic()
        if action == "status":
            found = _usable_partition(where / "slurm.conf" if (where / "slurm.conf").exists() else None)
            print(f"partition: {found}" if found else "no cluster answers")
            sys.exit(0 if found else 1)
        found = ensure_cluster(where)
        seconds = time.monotonic() - t
        print(f"partition: {found} ({seconds:.1f} s; {timings}); SLURM_CONF={os.environ.get('SLURM_CONF')}")
        if found is None:
            print(reason)
            sys.exit(1)
    else:
        sys.exit("usage: python tests/slurmlocal.py start|status|stop [ROOT]")

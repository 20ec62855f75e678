"""The local stack without Docker: RabbitMQ, a MongoDB wire-protocol server, Elasticsearch,
and the help desk's own processes, each started detached and stopped by PID.

Two profiles keep the demo and the test suite apart (own ports, own state directory):
``dev`` (``stack up``) and ``test`` (``stack test``).  Every port and directory can be
overridden by environment variables; see the README's Configuration section.
"""
from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import requests

ROOT = Path(__file__).resolve().parents[2]
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
ES_POM_DIR = ROOT / "deploy" / "local" / "elasticsearch"
ES_LAUNCHER = "HelpdeskNode"  # deploy/local/elasticsearch/HelpdeskNode.java
SERVICES = ("intake", "routing", "sla", "search", "automation")
SERVICE_CLASSES = {"intake": "IntakeService", "routing": "RoutingService", "sla": "SlaService",
                   "search": "SearchService", "automation": "AutomationService"}

# RabbitMQ's inter-node (distribution) port and this stack's own epmd, derived from the AMQP
# port so that stacks with different ports never share (or stop) each other's epmd.
RABBIT_DIST_OFFSET = 20000
EPMD_OFFSET = 30000

PROFILE_DEFAULTS = {
    "dev": {"amqp": 5672, "rabbit_mgmt": 15672, "mongo": 27017, "es_http": 9200,
            "portal": 8080, "smtp": 2525, "metrics": 9400},
    "test": {"amqp": 5682, "rabbit_mgmt": 15682, "mongo": 27027, "es_http": 9210,
             "portal": 8090, "smtp": 2535, "metrics": 9450},
}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise click.UsageError(f"{name} must be a port number, got {raw!r}")


def _configured(name: str, local: str) -> str | None:
    value = os.environ.get(name) or None
    return None if value == local else value


@dataclass
class Settings:
    """Everything the stack needs to know, read once from the environment."""

    profile: str
    state_dir: Path
    amqp_port: int
    rabbit_mgmt_port: int
    mongo_port: int
    es_http_port: int
    portal_port: int
    smtp_port: int
    metrics_port: int
    es_heap: str
    epmd_port: int
    external_mongo_uri: str | None
    external_amqp_uri: str | None
    external_es_url: str | None
    replicas: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls, profile: str) -> "Settings":
        defaults = PROFILE_DEFAULTS[profile]
        state = Path(os.environ.get("HELPDESK_STATE_DIR") or ROOT / ".state" / profile)
        amqp_port = _env_int("HELPDESK_AMQP_PORT", defaults["amqp"])
        epmd_port = _env_int("HELPDESK_EPMD_PORT", amqp_port + EPMD_OFFSET)
        if amqp_port + RABBIT_DIST_OFFSET > 65535 or epmd_port > 65535:
            raise click.UsageError(
                f"HELPDESK_AMQP_PORT {amqp_port}: RabbitMQ's inter-node port "
                f"(+{RABBIT_DIST_OFFSET}) and epmd port (+{EPMD_OFFSET}, or HELPDESK_EPMD_PORT) "
                "must stay below 65536")
        settings = cls(
            profile=profile,
            state_dir=state.resolve(),
            amqp_port=amqp_port,
            rabbit_mgmt_port=_env_int("HELPDESK_RABBIT_MGMT_PORT", defaults["rabbit_mgmt"]),
            mongo_port=_env_int("HELPDESK_MONGO_PORT", defaults["mongo"]),
            es_http_port=_env_int("HELPDESK_ES_PORT", defaults["es_http"]),
            portal_port=_env_int("HELPDESK_PORTAL_PORT", defaults["portal"]),
            smtp_port=_env_int("HELPDESK_SMTP_PORT", defaults["smtp"]),
            metrics_port=_env_int("HELPDESK_METRICS_PORT", defaults["metrics"]),
            es_heap=os.environ.get("HELPDESK_ES_HEAP", "512m"),
            epmd_port=epmd_port,
            external_mongo_uri=None,
            external_amqp_uri=None,
            external_es_url=None,
            replicas=parse_replicas(os.environ.get("HELPDESK_REPLICAS", "")),
        )
        # `stack env` exports the local servers' own URIs (the tests run with them): only a
        # different value means "use that existing server instead of starting one".
        settings.external_amqp_uri = _configured("HELPDESK_AMQP_URI", settings.amqp_uri)
        settings.external_mongo_uri = _configured("HELPDESK_MONGO_URI", settings.mongo_uri)
        settings.external_es_url = _configured("HELPDESK_ES_URL", settings.es_url)
        return settings

    @property
    def amqp_uri(self) -> str:
        return self.external_amqp_uri or f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def mongo_uri(self) -> str:
        # retryWrites=false: the wire server slows down badly with retryable writes on.
        return self.external_mongo_uri or (
            f"mongodb://127.0.0.1:{self.mongo_port}/?retryWrites=false&directConnection=true")

    @property
    def es_url(self) -> str:
        return self.external_es_url or f"http://127.0.0.1:{self.es_http_port}"

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"

    @property
    def rabbit_dist_port(self) -> int:
        return self.amqp_port + RABBIT_DIST_OFFSET

    @property
    def rabbit_mgmt_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.rabbit_mgmt_port}"

    def service_env(self) -> dict[str, str]:
        """Environment handed to every help desk process (and to the tests)."""
        env = dict(os.environ)
        env.update({
            "HELPDESK_PROFILE": self.profile,
            "HELPDESK_AMQP_URI": self.amqp_uri,
            "HELPDESK_MONGO_URI": self.mongo_uri,
            "HELPDESK_ES_URL": self.es_url,
            "HELPDESK_PORTAL_PORT": str(self.portal_port),
            # Base of the links in emails: a user-set public address wins over the local one.
            "HELPDESK_PORTAL_URL": os.environ.get("HELPDESK_PORTAL_URL") or self.portal_url,
            "HELPDESK_SMTP_PORT": str(self.smtp_port),
            # The first metrics port; each nameko process gets its own (metrics_ports).
            "HELPDESK_METRICS_PORT": str(self.metrics_port),
            "HELPDESK_RABBIT_MGMT_URL": self.rabbit_mgmt_url,
            "HELPDESK_STATE_DIR": str(self.state_dir),
            "PYTHONPATH": str(ROOT),
            # nameko 2.14 imports pkg_resources and eventlet announces its own deprecation.
            "PYTHONWARNINGS": "ignore::UserWarning,ignore::DeprecationWarning",
        })
        env.setdefault("HELPDESK_ES_INDEX_PREFIX", "helpdesk")
        return env

    def path(self, *parts: str) -> Path:
        p = self.state_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def parse_replicas(spec: str) -> dict[str, int]:
    """``"routing=3,sla=2"`` -> ``{"routing": 3, "sla": 2}``; others default to one."""
    result: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("=")
        if name not in SERVICES + ("portal",) or not count.isascii() or not count.isdigit() \
                or int(count) < 1 or name in result:
            raise click.UsageError(
                f"HELPDESK_REPLICAS: expected service=count with service in "
                f"{', '.join(SERVICES + ('portal',))}, got {item!r}")
        result[name] = int(count)
    return result


# --------------------------------------------------------------------------- processes
#
# Every server and process the stack starts gets a PID file under <state>/pids.  Stop ends
# exactly those (TERM, wait, KILL), and a port held by anything else is an error, never "reuse".

INFRA_NAMES = ("rabbitmq", "epmd", "mongo", "elasticsearch")


def _pid_file(s: Settings, name: str) -> Path:
    return s.path("pids", f"{name}.pid")


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, ..."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


@functools.lru_cache(maxsize=1)
def _boot_time() -> int:
    """Boot time in seconds since the epoch (``btime`` of /proc/stat); fixed until reboot."""
    with open("/proc/stat") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("btime "))


def _started_at(stat: list[str] | None) -> float | None:
    """Wall-clock start of a process, from its /proc/<pid>/stat fields (``_proc_stat``), to
    the second: boot time has one-second resolution."""
    try:
        return _boot_time() + int(stat[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, TypeError, IndexError, ValueError):
        return None


def _pid_record(path: Path) -> tuple[int, str | None] | None:
    """``(pid, start)`` written in a PID file (``start``: the process's start in clock ticks
    since boot, None in a file that records only the number), or None if missing or
    unreadable."""
    try:
        fields = path.read_text().split()
        return int(fields[0]), (fields[1] if len(fields) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def _pid_in(path: Path) -> int | None:
    """The number written in a PID file, or None if it is missing or unreadable."""
    record = _pid_record(path)
    return record and record[0]


def _record_pid(path: Path, pid: int) -> None:
    """Write ``pid`` with its start in ticks since boot: unlike wall-clock times, those do
    not move when the clock is stepped (a VM restored from a snapshot), so a later check
    cannot mistake our own process for a reused number."""
    stat = _proc_stat(pid)
    path.write_text(f"{pid} {stat[19]}" if stat else str(pid))


def _recorded_pid(pid_file: Path) -> int | None:
    """The PID in ``pid_file`` if that process is still the one recorded: a process started
    after the file was written only reuses the number (e.g. after a reboot)."""
    record = _pid_record(pid_file)
    if record is None or not _alive(record[0]):
        return None
    pid, start = record
    stat = _proc_stat(pid)
    if start is not None:
        return pid if stat is not None and stat[19] == start else None
    # Recorded by an older version: only the number, judged by the file's time.
    try:
        written = pid_file.stat().st_mtime
    except OSError:
        return None
    started = _started_at(stat)
    return pid if started is None or started <= written + 1.0 else None


def read_pid(s: Settings, name: str) -> int | None:
    return _recorded_pid(_pid_file(s, name))


def spawn(s: Settings, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start a detached process leading its own process group, so stop can end the whole
    group.  Spawned from the stack's session (``in_stack_session``) it joins that session;
    from anywhere else it gets a session of its own, out of reach of a terminal's hang-up."""
    existing = read_pid(s, name)
    if existing:
        return existing
    log = open(s.path("logs", f"{name}.log"), "ab")
    detach = {"process_group": 0} if os.getsid(0) == os.getpid() else {"start_new_session": True}
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env or s.service_env(), cwd=ROOT, **detach)
    _record_pid(_pid_file(s, name), proc.pid)
    return proc.pid


def in_stack_session(start: Callable[[], None]) -> None:
    """Run ``start`` in a child process leading a new session, so that every process it
    spawns shares that one session.  Linux's autogroup scheduling (on by default) shares the
    CPU between sessions before it shares it between processes: a stack of a dozen sessions
    took a dozen shares from anything else on the machine, a load client included, where one
    server (django-helpdesk's gunicorn, say) takes one (BENCHMARKS.md, thirteenth round).
    This process stays in the terminal's group, so Ctrl-C still stops the start."""
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.setsid()
            start()
            code = 0
        except click.ClickException as error:
            error.show()
            code = error.exit_code
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - reported here, as the CLI would have
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    try:
        _, status = os.waitpid(child, 0)
    except KeyboardInterrupt:
        os.kill(child, signal.SIGINT)
        os.waitpid(child, 0)
        raise
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.exit(code)


def _all_pids() -> list[int]:
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]


def _members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    found = []
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat and stat[0] != "Z" and int(stat[2]) == pgid:
            found.append(pid)
    return found


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """TERM the process (its whole group when it leads one: our spawns run in their own
    session), wait up to ``timeout``, then KILL what is left.  Reaps it if it is our child."""
    stat = _proc_stat(pid)
    group = stat is not None and int(stat[2]) == pid or not _alive(pid)

    def remaining() -> bool:
        """Whether the process (or, for a group, any member) still runs; the /proc scan for
        members only once the leader is gone and the group still exists."""
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if _alive(pid):
            return True
        if not group:
            return False
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return any(p != pid for p in _members(pid))

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not remaining():
            return
        try:
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while remaining() and time.monotonic() < deadline:
            time.sleep(0.1)


def terminate(s: Settings, name: str, timeout: float = 15.0) -> bool:
    """Stop what ``name``'s PID file records, whether or not it still answers on its port."""
    pid_file = _pid_file(s, name)
    pid = read_pid(s, name)
    if pid is None:
        # The leader is gone; members of its group may still be running (e.g. a killed
        # rabbitmq-server script leaves the Erlang VM).  Only if no other process took the PID.
        raw = _pid_in(pid_file)
        if raw is not None and not _alive(raw) and _members(raw):
            pid = raw
    if pid is not None:
        stop_pid(pid, timeout)
    pid_file.unlink(missing_ok=True)
    return pid is not None


def _log_tail(log: Path, lines: int = 15) -> str:
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log.is_file() else []
    return f"last lines of {log}:\n" + "\n".join(tail)


def wait_for(what: str, check, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except click.ClickException:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        time.sleep(0.3)
    hint = f"; see {log}" if log else ""
    raise click.ClickException(f"{what} did not become ready in {timeout:.0f}s "
                               f"(last error: {last_error}){hint}")


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    """requests takes basic auth from the URL itself (the management API needs it)."""
    return requests.get(url, timeout=timeout).ok


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _listening_sockets(port: int) -> set[str]:
    """``socket:[inode]`` names of the TCP sockets listening on ``port`` (any address)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                found.add(f"socket:[{fields[9]}]")
    return found


def port_holders(port: int, among: list[int] | None = None) -> list[int]:
    """PIDs (of ``among``, default all) with a socket listening on ``port``."""
    sockets = _listening_sockets(port)
    holders = []
    for pid in (among if among is not None else _all_pids()) if sockets else []:
        try:
            fds = list(os.scandir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd.path) in sockets:
                    holders.append(pid)
                    break
            except OSError:
                continue
    return holders


def held_by(port: int, pid: int) -> bool:
    """True if ``pid`` or a process of its group (our spawns lead their own) listens on
    ``port``."""
    return bool(port_holders(port, _members(pid) or [pid]))


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def port_in_use(port: int, variable: str, external: str | None = None) -> click.ClickException:
    holders = ", ".join(f"pid {p} {_command_name(p)}" for p in port_holders(port))
    alternative = f", or {external} to use an existing server" if external else ""
    return click.ClickException(
        f"port {port} is in use by another process{f' ({holders})' if holders else ''}; "
        f"set {variable} to a free port{alternative}")


def start_server(s: Settings, name: str, ports: dict[int, str], argv: list[str],
                 env: dict[str, str] | None = None, external: str | None = None) -> int:
    """Start ``name`` unless our own copy (its PID file) already runs.  ``ports`` maps each port
    it will listen on to the variable that moves it; any of them held by another process is an
    error, so the stack never uses (and later stops) a server it did not start."""
    refuse_foreign(s, name, ports, external)
    return spawn(s, name, argv, env)  # spawn returns the running copy's PID if there is one


def refuse_foreign(s: Settings, name: str, ports: dict[int, str],
                   external: str | None = None) -> None:
    """Fail if any of ``ports`` is held by something other than our running ``name``."""
    pid = read_pid(s, name)
    for port, variable in ports.items():
        if _port_open(port) and not (pid and held_by(port, pid)):
            raise port_in_use(port, variable, external)


def wait_server(s: Settings, name: str, what: str, port: int, variable: str, timeout: float,
                ready=None, external: str | None = None) -> None:
    """Wait until ``name`` (our process) listens on ``port`` and ``ready()`` says so; fail at
    once if it exits or someone else answers on the port."""
    log = s.state_dir / "logs" / f"{name}.log"
    confirmed = False  # the port's listener was checked to be ours (once is enough)

    def check() -> bool:
        nonlocal confirmed
        pid = read_pid(s, name)
        if pid is None:
            raise click.ClickException(f"{what} exited during start-up; {_log_tail(log)}")
        if not _port_open(port):
            return False
        if not confirmed:
            if not held_by(port, pid):
                raise port_in_use(port, variable, external)
            confirmed = True
        return ready() if ready else True

    wait_for(what, check, timeout, log)


# --------------------------------------------------------------------------- RabbitMQ

def _rabbit_env(s: Settings) -> dict[str, str]:
    base = s.state_dir / "rabbitmq"
    for sub in ("mnesia", "log", "home"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    conf = base / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.default = 127.0.0.1:{s.amqp_port}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {s.rabbit_mgmt_port}\n"
        "loopback_users.guest = true\n"
        # Queue depths (management API, the metrics' queue gauges) within 0.5-1.5 s rather than
        # the default five: the ops dashboard, and the benchmarks' "drained" times, need them.
        # Both settings: queues report every interval, but the management agent gathers their
        # reports only as often as its finest sample (5 s by default).
        "collect_statistics_interval = 500\n"
        "management.sample_retention_policies.global.minute = 1\n"
        "management.sample_retention_policies.global.hour = 60\n"
        "management.sample_retention_policies.basic.minute = 1\n"
        "management.sample_retention_policies.basic.hour = 60\n"
        "management.sample_retention_policies.detailed.10 = 1\n")
    plugins = base / "enabled_plugins"
    plugins.write_text("[rabbitmq_management].\n")
    env = dict(os.environ)
    env.update({
        "HOME": str(base / "home"),
        # Port in the name: several stacks (e.g. parallel test runs) can share one machine.
        "RABBITMQ_NODENAME": f"helpdesk-{s.profile}-{s.amqp_port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(s.amqp_port),
        "RABBITMQ_DIST_PORT": str(s.rabbit_dist_port),
        # Our own epmd on our own port: stopping it never disturbs another stack's nodes.
        "ERL_EPMD_PORT": str(s.epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_CONFIG_FILE": str(conf),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        # Erlang writes crash dumps (and Mnesia its core files) beside the node, not the repo.
        "ERL_CRASH_DUMP": str(base / "log" / "erl_crash.dump"),
    })
    return env


def _epmd_pids(s: Settings) -> list[int]:
    return [p for p in port_holders(s.epmd_port) if _command_name(p) == "epmd"]


def _rabbit_ports(s: Settings) -> dict[int, str]:
    return {s.amqp_port: "HELPDESK_AMQP_PORT", s.rabbit_mgmt_port: "HELPDESK_RABBIT_MGMT_PORT",
            s.rabbit_dist_port: f"HELPDESK_AMQP_PORT (inter-node port = AMQP + "
                                f"{RABBIT_DIST_OFFSET})"}


def rabbit_up(s: Settings) -> None:
    if s.external_amqp_uri:
        return
    refuse_foreign(s, "epmd", {s.epmd_port: "HELPDESK_EPMD_PORT"})
    env = _rabbit_env(s)
    _epmd_up(s, env)
    # In the foreground (not -detached): the node stays in the session we spawn, so its PID
    # file is ours from the first instant and TERM to the group shuts it down cleanly.
    start_server(s, "rabbitmq", _rabbit_ports(s), [str(RABBIT_BIN / "rabbitmq-server")],
                 env=env, external="HELPDESK_AMQP_URI")

    def ready() -> bool:
        # The node starts epmd (detached, in its own session) on our epmd port, which was free
        # (checked above): record it as ours, to stop it by PID later.
        if not read_pid(s, "epmd"):
            for pid in _epmd_pids(s):
                _record_pid(_pid_file(s, "epmd"), pid)
        return _http_ok(f"{s.rabbit_mgmt_url}/api/overview")

    wait_server(s, "rabbitmq", "RabbitMQ", s.amqp_port, "HELPDESK_AMQP_PORT", 90, ready,
                external="HELPDESK_AMQP_URI")


def _epmd_up(s: Settings, env: dict[str, str]) -> None:
    """Our epmd, listening before the node starts: a node that starts epmd itself on a busy
    machine can try to register before it listens and die with ``nodistribution``."""
    epmd = shutil.which("epmd")
    if epmd is None or _port_open(s.epmd_port):
        return  # the node starts its own (older Erlang layouts), or ours runs already
    subprocess.run([epmd, "-daemon"], env=env, timeout=30, check=False)
    wait_for("epmd", lambda: _port_open(s.epmd_port), 30)


def rabbit_down(s: Settings) -> None:
    # By PID files only (none exist for a server we did not start), so no external-URI check.
    # TERM makes the rabbitmq-server script stop the node gracefully; KILL after 60 s.
    terminate(s, "rabbitmq", timeout=60)
    # A node started -detached by an older version of this script records only its own PID.
    legacy = _recorded_pid(s.state_dir / "rabbitmq" / "rabbitmq.pid")
    if legacy and _command_name(legacy).startswith("beam"):
        stop_pid(legacy, timeout=60)
    (s.state_dir / "rabbitmq" / "rabbitmq.pid").unlink(missing_ok=True)
    # The node leaves its epmd behind; it is ours (our port, recorded when the node started).
    if not terminate(s, "epmd", timeout=5) and not s.external_amqp_uri \
            and (s.state_dir / "rabbitmq").exists() and _epmd_pids(s) and shutil.which("epmd"):
        # Started but never recorded (e.g. the node failed to boot): only on our own port,
        # and `-kill` refuses while a node is still registered.
        try:
            subprocess.run(["epmd", "-port", str(s.epmd_port), "-kill"], timeout=10,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            click.echo(f"epmd on port {s.epmd_port} did not answer `epmd -kill`", err=True)


# --------------------------------------------------------------------------- MongoDB wire server
#
# The local MongoDB is secantusdb's Rust wire server, `secantusd-rs` (GPL-2.0-only, run as a
# separate process).  No prebuilt binary is reachable, so the stack builds the pinned version
# once per machine with cargo into the user's cache, outside the work tree, keyed by version.

MONGO_SERVER_VERSION = "0.5.3-beta.196"
MONGO_SERVER_CRATE = "secantus-mdb"
MONGO_SERVER_BINARY = "secantusd-rs"
MONGO_CACHE_SIZE = "512M"  # WiredTiger cache (the server's default is 4G)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "helpdesk"


def mongo_server_root() -> Path:
    """Where the pinned server is installed (``bin/secantusd-rs`` inside)."""
    return _cache_dir() / f"{MONGO_SERVER_BINARY}-{MONGO_SERVER_VERSION}"


def find_cargo() -> str | None:
    """cargo on PATH, else rustup's default place (a non-login shell often lacks it on PATH)."""
    found = shutil.which("cargo")
    if found:
        return found
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    candidate = cargo_home / "bin" / "cargo"
    return str(candidate) if os.access(candidate, os.X_OK) else None


def mongo_server_binary(progress_every: float = 60.0) -> Path:
    """The cached ``secantusd-rs``; built first if missing (~15 min on 2 cores, once per
    machine).  cargo installs into a temporary root that is renamed into place only after
    the binary answers ``--version``, so an interrupted build is never taken as done; a lock
    file makes concurrent stacks wait for one build instead of starting their own."""
    root = mongo_server_root()
    binary = root / "bin" / MONGO_SERVER_BINARY
    if os.access(binary, os.X_OK):
        return binary
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another stack may be building it right now
        if os.access(binary, os.X_OK):
            return binary
        _build_mongo_server(root, progress_every)
    return binary


def _build_mongo_server(root: Path, progress_every: float) -> None:
    cargo = find_cargo()
    if cargo is None:
        raise click.ClickException(
            "building the Rust Mongo wire server needs cargo (Rust, e.g. by rustup), not found "
            "on PATH nor in $CARGO_HOME/bin; or set HELPDESK_MONGO_URI to an existing MongoDB")
    staging = root.with_name(root.name + ".tmp")
    log = root.with_name(root.name + ".build.log")
    shutil.rmtree(staging, ignore_errors=True)
    click.echo(f"==> building the Rust Mongo wire server {MONGO_SERVER_BINARY} "
               f"{MONGO_SERVER_VERSION} once per machine, ~15 min (log: {log})")
    env = dict(os.environ)
    # rustup's proxies find their toolchain beside cargo; its bin dir also holds rustc.
    env["PATH"] = f"{Path(cargo).parent}{os.pathsep}{env.get('PATH', '')}"
    argv = [cargo, "install", MONGO_SERVER_CRATE, "--version", MONGO_SERVER_VERSION,
            # The crate asks for a newer rustc than rustup's stable here; it builds and runs.
            "--ignore-rust-version", "--locked", "--root", str(staging),
            # A build interrupted midway resumes from here instead of from scratch.
            "--target-dir", str(root.with_name(root.name + ".target"))]
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        while proc.poll() is None:
            try:
                proc.wait(timeout=progress_every)
            except subprocess.TimeoutExpired:
                click.echo(f"    still building ({(time.monotonic() - started) / 60:.0f} min): "
                           f"{_last_line(log)}")
    built = staging / "bin" / MONGO_SERVER_BINARY
    if proc.returncode != 0 or not _answers_version(built):
        raise click.ClickException(
            f"building {MONGO_SERVER_BINARY} failed (cargo exit {proc.returncode}); "
            f"{_log_tail(log)}")
    shutil.rmtree(root, ignore_errors=True)  # an empty or partial leftover
    os.rename(staging, root)
    shutil.rmtree(root.with_name(root.name + ".target"), ignore_errors=True)  # GBs of objects
    click.echo(f"    built in {(time.monotonic() - started) / 60:.1f} min: "
               f"{root / 'bin' / MONGO_SERVER_BINARY}")


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


def _answers_version(binary: Path) -> bool:
    try:
        return subprocess.run([str(binary), "--version"], capture_output=True,
                              timeout=30).returncode == 0
    except OSError:
        return False


def mongo_txn_lifetime() -> int:
    """``HELPDESK_MONGO_TXN_LIFETIME``: seconds an abandoned transaction keeps its locks."""
    raw = os.environ.get("HELPDESK_MONGO_TXN_LIFETIME") or "10"
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise click.UsageError(f"HELPDESK_MONGO_TXN_LIFETIME must be whole seconds >= 1, "
                               f"got {raw!r}")
    return int(raw)


def _set_txn_lifetime(s: Settings, seconds: int) -> bool:
    """A process killed mid-transaction leaves its transaction open on the server (a closed
    connection does not end it, as on mongod) and writes to what it touched conflict until the
    server reaps it: 60 s by default.  Our transactions last milliseconds; the server's command
    line has no flag for this, so it is set at run time, as on mongod."""
    from pymongo import MongoClient

    with MongoClient(s.mongo_uri, serverSelectionTimeoutMS=2000) as client:
        client.admin.command("setParameter", 1, transactionLifetimeLimitSeconds=seconds)
    return True


def mongo_up(s: Settings) -> None:
    if s.external_mongo_uri:
        return
    lifetime = mongo_txn_lifetime()
    binary = mongo_server_binary()
    data = s.state_dir / "mongo"
    data.mkdir(parents=True, exist_ok=True)
    # An explicit (empty) config file: the server would otherwise pick up ./secantusd.toml or
    # ~/.secantus/secantusd.toml, e.g. one that turns on auth.
    config = s.path("mongo-config", "secantusd.toml")
    config.write_text("# the local stack passes every setting on the command line\n")
    start_server(s, "mongo", {s.mongo_port: "HELPDESK_MONGO_PORT"},
                 [str(binary), "--config", str(config), "--host", "127.0.0.1",
                  "--port", str(s.mongo_port), "--storage-path", str(data),
                  "--cache-size", MONGO_CACHE_SIZE, "--log-level", "WARNING"],
                 external="HELPDESK_MONGO_URI")
    wait_server(s, "mongo", "MongoDB wire server", s.mongo_port, "HELPDESK_MONGO_PORT", 30,
                lambda: _set_txn_lifetime(s, lifetime), external="HELPDESK_MONGO_URI")


# --------------------------------------------------------------------------- Elasticsearch

def _es_classpath() -> str:
    """The node's classpath: the runner resolved by Maven, plus our launcher compiled beside
    it (both cached in deploy/local/elasticsearch, ignored by git)."""
    cp_file = ES_POM_DIR / "classpath.txt"
    pom = ES_POM_DIR / "pom.xml"
    if not cp_file.exists() or cp_file.stat().st_mtime < pom.stat().st_mtime or not all(
            Path(p).exists() for p in cp_file.read_text().strip().split(":")):
        click.echo("==> resolving Elasticsearch 7.10.2 from Maven Central (first run only)")
        subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "dependency:build-classpath",
                        f"-Dmdep.outputFile={cp_file}"], check=True)
    classpath = cp_file.read_text().strip()
    source = ES_POM_DIR / f"{ES_LAUNCHER}.java"
    classes = ES_POM_DIR / "classes"
    compiled = classes / f"{ES_LAUNCHER}.class"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["javac", "-nowarn", "-d", str(classes), "-cp", classpath, str(source)],
                       check=True)
    return f"{classes}:{classpath}"


def es_up(s: Settings) -> None:
    if s.external_es_url:
        return
    base = s.state_dir / "elasticsearch"
    base.mkdir(parents=True, exist_ok=True)
    start_server(s, "elasticsearch", {s.es_http_port: "HELPDESK_ES_PORT"}, [
        "java", f"-Xms{s.es_heap}", f"-Xmx{s.es_heap}", "-XX:+UseSerialGC",
        "-Des.distribution.flavor=default", "-Dlog4j2.formatMsgNoLookups=true",
        "-cp", _es_classpath(), ES_LAUNCHER,
        "-basePath", str(base), "-numOfNode", "1",
        "-clusterName", f"helpdesk-{s.profile}-{s.es_http_port}",
        # The runner adds the node number (1) to the base port.  Transport takes the first
        # free port from 9300 on loopback; cluster names keep stacks from joining.
        "-baseHttpPort", str(s.es_http_port - 1),
    ], external="HELPDESK_ES_URL")
    wait_server(s, "elasticsearch", "Elasticsearch", s.es_http_port, "HELPDESK_ES_PORT", 120,
                lambda: _http_ok(f"{s.es_url}/_cluster/health?wait_for_status=yellow&timeout=1s"),
                external="HELPDESK_ES_URL")


# --------------------------------------------------------------------------- help desk processes

def _process_names(s: Settings) -> list[tuple[str, str]]:
    names = []
    for service in SERVICES + ("portal",):
        for i in range(1, s.replicas.get(service, 1) + 1):
            names.append((service, f"{service}-{i}"))
    names.append(("smtp", "smtp-1"))  # inbound email; one listener owns the port
    return names


def metrics_ports(s: Settings) -> dict[str, int]:
    """Port of each nameko process's /metrics, /livez and /readyz: the first metrics port
    (HELPDESK_METRICS_PORT) and on, in process order.  The portal serves them on its own port."""
    nameko = [name for service, name in _process_names(s) if service in SERVICES]
    return {name: s.metrics_port + i for i, name in enumerate(nameko)}


def health_urls(s: Settings) -> dict[str, str]:
    """Readiness URL of every help desk process that has one (not the SMTP listener)."""
    urls = {name: f"http://127.0.0.1:{port}/readyz" for name, port in metrics_ports(s).items()}
    urls.update({name: f"{s.portal_url}/readyz" for service, name in _process_names(s)
                 if service == "portal"})
    return urls


def process_env(s: Settings, service: str, name: str) -> dict[str, str]:
    """Environment of one help desk process: the shared one, its service's name (logs), and
    for a nameko process its own metrics port.  docker-compose.yml sets the same variables."""
    env = dict(s.service_env(), HELPDESK_SERVICE_NAME=service)
    port = metrics_ports(s).get(name)
    if port is not None:
        env["HELPDESK_METRICS_PORT"] = str(port)
    return env


def refuse_foreign_service_ports(s: Settings) -> None:
    """Someone else's portal answering /healthz must not pass for ours.  (Portal replicas
    share the port: any of ours may hold it.)"""
    for service, port, variable in (("portal", s.portal_port, "HELPDESK_PORTAL_PORT"),
                                    ("smtp", s.smtp_port, "HELPDESK_SMTP_PORT")):
        ours = [pid for kind, name in _process_names(s) if kind == service
                for pid in [read_pid(s, name)] if pid]
        if _port_open(port) and not any(held_by(port, pid) for pid in ours):
            raise port_in_use(port, variable)
    for name, port in metrics_ports(s).items():
        pid = read_pid(s, name)
        if _port_open(port) and not (pid and held_by(port, pid)):
            raise port_in_use(port, "HELPDESK_METRICS_PORT")


def services_up(s: Settings) -> None:
    refuse_foreign_service_ports(s)
    python = sys.executable
    for service, name in _process_names(s):
        if service == "portal":
            argv = [python, "-m", "services.portal.server"]
        elif service == "smtp":
            argv = [python, "-m", "services.intake.smtp_listener"]
        else:
            argv = [python, "-m", "nameko", "run", "--config", str(ROOT / "deploy" / "nameko.yaml"),
                    f"services.{service}.service:{SERVICE_CLASSES[service]}"]
        spawn(s, name, argv, process_env(s, service, name))

    def ready() -> bool:
        for _, name in _process_names(s):
            if read_pid(s, name) is None:
                raise click.ClickException(f"{name} exited during start-up; "
                                           + _log_tail(s.state_dir / "logs" / f"{name}.log"))
        return all(_http_ok(url, timeout=5) for url in health_urls(s).values()) \
            and _http_ok(f"{s.portal_url}/healthz", timeout=5)

    wait_for("help desk services (/readyz of each, portal /healthz)", ready, 90,
             s.state_dir / "logs")


def services_down(s: Settings) -> None:
    for _, name in reversed(_process_names(s)):
        terminate(s, name)
    # Replicas started under an earlier HELPDESK_REPLICAS setting.
    pid_dir = s.state_dir / "pids"
    for f in pid_dir.glob("*.pid") if pid_dir.exists() else []:
        if f.stem not in INFRA_NAMES:
            terminate(s, f.stem)


def demo_mail_dir(s: Settings) -> Path | None:
    """Where the demo keeps its outgoing mail: nowhere when a relay is configured."""
    return None if os.environ.get("HELPDESK_SMTP_RELAY_HOST") else s.state_dir / "mail"


def demo_mailbox(s: Settings) -> None:
    """With no relay configured, the demo keeps its outgoing mail (notifications, password
    resets, CSAT links) in a Maildir, so every emailed link can be followed locally."""
    mail_dir = demo_mail_dir(s)
    if mail_dir is None:
        return
    port = _env_int("HELPDESK_DEMO_MAIL_PORT", 1025)
    start_server(s, "mailbox", {port: "HELPDESK_DEMO_MAIL_PORT"},
                 [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                  "-c", "deploy.local.maildir_sink.RawMaildir", str(mail_dir)],
                 external="HELPDESK_SMTP_RELAY_HOST")
    wait_server(s, "mailbox", "demo mailbox", port, "HELPDESK_DEMO_MAIL_PORT", 15,
                external="HELPDESK_SMTP_RELAY_HOST")
    os.environ.update(HELPDESK_SMTP_RELAY_HOST="127.0.0.1", HELPDESK_SMTP_RELAY_PORT=str(port))


def infra_up(s: Settings) -> None:
    click.echo(f"==> starting RabbitMQ, MongoDB wire server, Elasticsearch ({s.profile})")
    # Every port first, so a conflict starts nothing.
    for name, ports, configured, variable in (
            ("rabbitmq", _rabbit_ports(s), s.external_amqp_uri, "HELPDESK_AMQP_URI"),
            ("epmd", {s.epmd_port: "HELPDESK_EPMD_PORT"}, s.external_amqp_uri, None),
            ("mongo", {s.mongo_port: "HELPDESK_MONGO_PORT"}, s.external_mongo_uri,
             "HELPDESK_MONGO_URI"),
            ("elasticsearch", {s.es_http_port: "HELPDESK_ES_PORT"}, s.external_es_url,
             "HELPDESK_ES_URL")):
        if not configured:
            refuse_foreign(s, name, ports, variable)
    rabbit_up(s)
    mongo_up(s)
    es_up(s)


def infra_down(s: Settings) -> None:
    terminate(s, "elasticsearch")
    terminate(s, "mongo")
    rabbit_down(s)


def seed(s: Settings) -> None:
    subprocess.run([sys.executable, "-m", "deploy.seed"], env=s.service_env(), check=True, cwd=ROOT)


def status_lines(s: Settings) -> list[str]:
    def server(name: str, external: str | None, port: int) -> str:
        if external:
            return "external"
        pid = read_pid(s, name)
        return f"up (pid {pid})" if pid and held_by(port, pid) else "down"

    lines = [
        f"rabbitmq       {server('rabbitmq', s.external_amqp_uri, s.amqp_port)}  {s.amqp_uri}",
        f"mongo          {server('mongo', s.external_mongo_uri, s.mongo_port)}  {s.mongo_uri}",
        f"elasticsearch  {server('elasticsearch', s.external_es_url, s.es_http_port)}"
        f"  {s.es_url}",
    ]
    urls = health_urls(s)
    for _, name in _process_names(s):
        pid = read_pid(s, name)
        state = "down"
        if pid:
            state = f"up (pid {pid})"
            if name in urls:
                state += f", {_readiness(urls[name])}  {urls[name].replace('/readyz', '/metrics')}"
        lines.append(f"{name:<14} {state}")
    return lines


def _readiness(url: str) -> str:
    """``ready``, or ``not ready (check: error, ...)`` from a /readyz answer."""
    try:
        answer = requests.get(url, timeout=3)
        failing = {k: v for k, v in (answer.json().get("checks") or {}).items() if v != "ok"}
    except (requests.RequestException, ValueError) as exc:
        return f"not ready ({type(exc).__name__})"
    if answer.ok:
        return "ready"
    return "not ready (" + ", ".join(f"{k}: {v}" for k, v in failing.items()) + ")"


def start_all(s: Settings, seed_demo: bool = False) -> None:
    """RabbitMQ, Mongo, Elasticsearch, the services, and the demo data if asked."""
    infra_up(s)
    demo_mailbox(s)
    click.echo("==> starting services: " + ", ".join(n for _, n in _process_names(s)))
    services_up(s)
    if seed_demo:
        click.echo("==> loading demo data")
        seed(s)


# --------------------------------------------------------------------------- CLI

@click.group()
def cli() -> None:
    """Run the help desk locally without Docker."""


@cli.command()
@click.option("--no-seed", is_flag=True, help="Do not load demo data.")
def up(no_seed: bool) -> None:
    """Start everything, load demo data and print the portal URL."""
    s = Settings.from_env("dev")
    refuse_foreign_service_ports(s)  # every port before starting anything
    mailbox = demo_mail_dir(s)
    if mailbox is not None:
        port = _env_int("HELPDESK_DEMO_MAIL_PORT", 1025)
        refuse_foreign(s, "mailbox", {port: "HELPDESK_DEMO_MAIL_PORT"}, "HELPDESK_SMTP_RELAY_HOST")
    if not s.external_mongo_uri:
        mongo_server_binary()  # a first build, before the stack's session: Ctrl-C stops cargo
    in_stack_session(lambda: start_all(s, seed_demo=not no_seed))
    click.echo("")
    click.echo(f"Help desk is up: {s.portal_url}/")
    click.echo(f"  API docs:   {s.portal_url}/api/docs")
    password = os.environ.get("HELPDESK_DEMO_PASSWORD", "demo-pass-1")  # as deploy/seed.py
    click.echo(f"  Demo logins (password {password!r}): customer@example.com, "
               "agent.anna@example.com, supervisor@example.com, admin@example.com")
    click.echo(f"  Logs:       {s.state_dir / 'logs'}")
    if mailbox:
        click.echo(f"  Mail sent:  {mailbox}/new (the demo's outgoing mail, one file each)")
    click.echo("  Stop with:  make stop")


@cli.command()
def down() -> None:
    """Stop every process this stack started (both profiles)."""
    for profile in PROFILE_DEFAULTS:
        s = Settings.from_env(profile)
        if s.state_dir.exists():
            services_down(s)
            infra_down(s)
    click.echo("stopped")


@cli.command()
@click.option("--profile", type=click.Choice(sorted(PROFILE_DEFAULTS)), default="dev")
def status(profile: str) -> None:
    """Show what is running."""
    for line in status_lines(Settings.from_env(profile)):
        click.echo(line)


@cli.command("infra-up")
@click.option("--profile", type=click.Choice(sorted(PROFILE_DEFAULTS)), default="dev")
def infra_up_cmd(profile: str) -> None:
    """Start only RabbitMQ, Mongo and Elasticsearch."""
    infra_up(Settings.from_env(profile))


@cli.command("env")
@click.option("--profile", type=click.Choice(sorted(PROFILE_DEFAULTS)), default="dev")
def env_cmd(profile: str) -> None:
    """Print the connection settings as shell exports."""
    env = Settings.from_env(profile).service_env()
    for key in sorted(k for k in env if k.startswith("HELPDESK_")):
        click.echo(f"export {key}={json.dumps(env[key])}")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--keep", is_flag=True, help="Leave the test servers running afterwards.")
def test(pytest_args: tuple[str, ...], keep: bool) -> None:
    """Start the test profile's servers on fresh state, run pytest against them, stop them."""
    s = Settings.from_env("test")
    services_down(s)
    infra_down(s)
    shutil.rmtree(s.state_dir, ignore_errors=True)
    code = 1
    try:
        infra_up(s)
        code = subprocess.run([sys.executable, "-m", "pytest", *(pytest_args or ("tests",))],
                              env=s.service_env(), cwd=ROOT).returncode
    finally:
        if not keep:
            services_down(s)
            infra_down(s)
    if code == 5:
        click.echo("pytest collected no tests: treating that as a failure", err=True)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    cli()

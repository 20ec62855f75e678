"""The local stack without Docker: RabbitMQ, a MongoDB wire-protocol server, Elasticsearch,
and the help desk's own processes, each started detached and stopped by PID.

Two profiles keep the demo and the test suite apart (own ports, own state directory):
``dev`` (``stack up``) and ``test`` (``stack test``).  Every port and directory can be
overridden by environment variables; see the README's Configuration section.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import requests

ROOT = Path(__file__).resolve().parents[2]
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
ES_POM_DIR = ROOT / "deploy" / "local" / "elasticsearch"
SERVICES = ("intake", "routing", "sla", "search")
SERVICE_CLASSES = {"intake": "IntakeService", "routing": "RoutingService", "sla": "SlaService",
                   "search": "SearchService"}

PROFILE_DEFAULTS = {
    "dev": {"amqp": 5672, "rabbit_mgmt": 15672, "mongo": 27017, "es_http": 9200,
            "portal": 8080, "smtp": 2525},
    "test": {"amqp": 5682, "rabbit_mgmt": 15682, "mongo": 27027, "es_http": 9210,
             "portal": 8090, "smtp": 2535},
}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise click.UsageError(f"{name} must be a port number, got {raw!r}")


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
    es_heap: str
    external_mongo_uri: str | None
    external_amqp_uri: str | None
    external_es_url: str | None
    replicas: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls, profile: str) -> "Settings":
        defaults = PROFILE_DEFAULTS[profile]
        state = Path(os.environ.get("HELPDESK_STATE_DIR") or ROOT / ".state" / profile)
        return cls(
            profile=profile,
            state_dir=state.resolve(),
            amqp_port=_env_int("HELPDESK_AMQP_PORT", defaults["amqp"]),
            rabbit_mgmt_port=_env_int("HELPDESK_RABBIT_MGMT_PORT", defaults["rabbit_mgmt"]),
            mongo_port=_env_int("HELPDESK_MONGO_PORT", defaults["mongo"]),
            es_http_port=_env_int("HELPDESK_ES_PORT", defaults["es_http"]),
            portal_port=_env_int("HELPDESK_PORTAL_PORT", defaults["portal"]),
            smtp_port=_env_int("HELPDESK_SMTP_PORT", defaults["smtp"]),
            es_heap=os.environ.get("HELPDESK_ES_HEAP", "512m"),
            external_mongo_uri=os.environ.get("HELPDESK_MONGO_URI") or None,
            external_amqp_uri=os.environ.get("HELPDESK_AMQP_URI") or None,
            external_es_url=os.environ.get("HELPDESK_ES_URL") or None,
            replicas=parse_replicas(os.environ.get("HELPDESK_REPLICAS", "")),
        )

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
            "HELPDESK_PORTAL_URL": self.portal_url,
            "HELPDESK_SMTP_PORT": str(self.smtp_port),
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

def _pid_file(s: Settings, name: str) -> Path:
    return s.path("pids", f"{name}.pid")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(s: Settings, name: str) -> int | None:
    f = _pid_file(s, name)
    try:
        pid = int(f.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def spawn(s: Settings, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start a detached process (own session, so stop can end its whole group)."""
    existing = read_pid(s, name)
    if existing:
        return existing
    log = open(s.path("logs", f"{name}.log"), "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env or s.service_env(), cwd=ROOT, start_new_session=True)
    _pid_file(s, name).write_text(str(proc.pid))
    return proc.pid


def terminate(s: Settings, name: str, timeout: float = 15.0) -> bool:
    pid = read_pid(s, name)
    _pid_file(s, name).unlink(missing_ok=True)
    if not pid:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not _alive(pid):
                return True
            time.sleep(0.1)
    return True


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


# --------------------------------------------------------------------------- RabbitMQ

def _rabbit_env(s: Settings) -> dict[str, str]:
    base = s.state_dir / "rabbitmq"
    for sub in ("mnesia", "log", "home"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    conf = base / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.default = 127.0.0.1:{s.amqp_port}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {s.rabbit_mgmt_port}\n"
        "loopback_users.guest = true\n")
    plugins = base / "enabled_plugins"
    plugins.write_text("[rabbitmq_management].\n")
    env = dict(os.environ)
    env.update({
        "HOME": str(base / "home"),
        # Port in the name: several stacks (e.g. parallel test runs) can share one machine.
        "RABBITMQ_NODENAME": f"helpdesk-{s.profile}-{s.amqp_port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(s.amqp_port),
        "RABBITMQ_DIST_PORT": str(s.amqp_port + 20000),
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


def rabbit_up(s: Settings) -> None:
    if s.external_amqp_uri:
        return
    if not _port_open(s.amqp_port):
        env = _rabbit_env(s)
        subprocess.run([str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=env, check=True,
                       cwd=s.state_dir / "rabbitmq",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = s.state_dir / "rabbitmq" / "log"
    wait_for("RabbitMQ", lambda: _port_open(s.amqp_port), 60, log)
    wait_for("RabbitMQ management API",
             lambda: _http_ok(f"{s.rabbit_mgmt_url}/api/overview"), 60, log)


def rabbit_down(s: Settings) -> None:
    if s.external_amqp_uri or not (s.state_dir / "rabbitmq").exists():
        return
    env = _rabbit_env(s)
    if _port_open(s.amqp_port):
        subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", env["RABBITMQ_NODENAME"], "stop"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        pid_file = s.state_dir / "rabbitmq" / "rabbitmq.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        deadline = time.monotonic() + 30
        while (_port_open(s.amqp_port) or (pid and _alive(pid))) and time.monotonic() < deadline:
            time.sleep(0.2)
    # rabbitmqctl leaves epmd behind; end it once no node is registered with it.
    names = subprocess.run(["epmd", "-names"], capture_output=True, text=True,
                           env=env).stdout if shutil.which("epmd") else ""
    if "name " not in names:
        subprocess.run(["pkill", "-x", "epmd"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------- MongoDB wire server

def mongo_up(s: Settings) -> None:
    if s.external_mongo_uri:
        return
    data = s.state_dir / "mongo"
    data.mkdir(parents=True, exist_ok=True)
    spawn(s, "mongo", [sys.executable, "-m", "deploy.local.mongo_server", "--host", "127.0.0.1",
                       "--port", str(s.mongo_port), "--storage-path", str(data),
                       "--log-level", "WARNING"])
    wait_for("MongoDB wire server", lambda: _port_open(s.mongo_port), 30,
             s.state_dir / "logs" / "mongo.log")


# --------------------------------------------------------------------------- Elasticsearch

def _es_classpath() -> str:
    cp_file = ES_POM_DIR / "classpath.txt"
    pom = ES_POM_DIR / "pom.xml"
    if not cp_file.exists() or cp_file.stat().st_mtime < pom.stat().st_mtime or not all(
            Path(p).exists() for p in cp_file.read_text().strip().split(":")):
        click.echo("==> resolving Elasticsearch 7.10.2 from Maven Central (first run only)")
        subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "dependency:build-classpath",
                        f"-Dmdep.outputFile={cp_file}"], check=True)
    return cp_file.read_text().strip()


def es_up(s: Settings) -> None:
    if s.external_es_url:
        return
    if not _port_open(s.es_http_port):
        base = s.state_dir / "elasticsearch"
        base.mkdir(parents=True, exist_ok=True)
        spawn(s, "elasticsearch", [
            "java", f"-Xms{s.es_heap}", f"-Xmx{s.es_heap}", "-XX:+UseSerialGC",
            "-Des.distribution.flavor=default", "-Dlog4j2.formatMsgNoLookups=true",
            "-cp", _es_classpath(), "org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner",
            "-basePath", str(base), "-numOfNode", "1",
            "-clusterName", f"helpdesk-{s.profile}-{s.es_http_port}",
            # The runner adds the node number (1) to the base port.  Transport takes the first
            # free port from 9300 on loopback; cluster names keep profiles from joining.
            "-baseHttpPort", str(s.es_http_port - 1),
        ])
    wait_for("Elasticsearch", lambda: _http_ok(
        f"{s.es_url}/_cluster/health?wait_for_status=yellow&timeout=1s"), 120,
        s.state_dir / "logs" / "elasticsearch.log")


# --------------------------------------------------------------------------- help desk processes

def _process_names(s: Settings) -> list[tuple[str, str]]:
    names = []
    for service in SERVICES + ("portal",):
        for i in range(1, s.replicas.get(service, 1) + 1):
            names.append((service, f"{service}-{i}"))
    names.append(("smtp", "smtp-1"))  # inbound email; one listener owns the port
    return names


def services_up(s: Settings) -> None:
    python = sys.executable
    for service, name in _process_names(s):
        if service == "portal":
            argv = [python, "-m", "services.portal.server"]
        elif service == "smtp":
            argv = [python, "-m", "services.intake.smtp_listener"]
        else:
            argv = [python, "-m", "nameko", "run", "--config", str(ROOT / "deploy" / "nameko.yaml"),
                    f"services.{service}.service:{SERVICE_CLASSES[service]}"]
        spawn(s, name, argv)

    def ready() -> bool:
        for _, name in _process_names(s):
            if read_pid(s, name) is None:
                log = s.state_dir / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
                raise click.ClickException(f"{name} exited during start-up; last lines of {log}:\n"
                                           + "\n".join(tail))
        return _http_ok(f"{s.portal_url}/healthz", timeout=5)

    wait_for("help desk services (portal /healthz)", ready, 90, s.state_dir / "logs")


def services_down(s: Settings) -> None:
    for _, name in reversed(_process_names(s)):
        terminate(s, name)
    # Replicas started under an earlier HELPDESK_REPLICAS setting.
    pid_dir = s.state_dir / "pids"
    for f in pid_dir.glob("*.pid") if pid_dir.exists() else []:
        if f.stem not in ("mongo", "elasticsearch"):
            terminate(s, f.stem)


def demo_mailbox(s: Settings) -> Path | None:
    """With no relay configured, the demo keeps its outgoing mail (notifications, password
    resets, CSAT links) in a Maildir, so every emailed link can be followed locally."""
    if os.environ.get("HELPDESK_SMTP_RELAY_HOST"):
        return None
    port = _env_int("HELPDESK_DEMO_MAIL_PORT", 1025)
    mail_dir = s.state_dir / "mail"
    spawn(s, "mailbox", [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                         "-c", "aiosmtpd.handlers.Mailbox", str(mail_dir)])
    wait_for("demo mailbox", lambda: _port_open(port), 15, s.state_dir / "logs" / "mailbox.log")
    os.environ.update(HELPDESK_SMTP_RELAY_HOST="127.0.0.1", HELPDESK_SMTP_RELAY_PORT=str(port))
    return mail_dir


def infra_up(s: Settings) -> None:
    click.echo(f"==> starting RabbitMQ, MongoDB wire server, Elasticsearch ({s.profile})")
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
    lines = [
        f"rabbitmq       {'up' if _port_open(s.amqp_port) else 'down'}  {s.amqp_uri}",
        f"mongo          {'up' if read_pid(s, 'mongo') or s.external_mongo_uri else 'down'}"
        f"  {s.mongo_uri}",
        f"elasticsearch  {'up' if _port_open(s.es_http_port) else 'down'}  {s.es_url}",
    ]
    for _, name in _process_names(s):
        pid = read_pid(s, name)
        lines.append(f"{name:<14} {'up' if pid else 'down'}  {f'pid {pid}' if pid else ''}")
    return lines


# --------------------------------------------------------------------------- CLI

@click.group()
def cli() -> None:
    """Run the help desk locally without Docker."""


@cli.command()
@click.option("--no-seed", is_flag=True, help="Do not load demo data.")
def up(no_seed: bool) -> None:
    """Start everything, load demo data and print the portal URL."""
    s = Settings.from_env("dev")
    infra_up(s)
    mailbox = demo_mailbox(s)
    click.echo("==> starting services: " + ", ".join(n for _, n in _process_names(s)))
    services_up(s)
    if not no_seed:
        click.echo("==> loading demo data")
        seed(s)
    click.echo("")
    click.echo(f"Help desk is up: {s.portal_url}/")
    click.echo(f"  API docs:   {s.portal_url}/api/docs")
    click.echo("  Demo logins (password 'demo-pass-1'): customer@example.com, "
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

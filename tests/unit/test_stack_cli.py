import click
import pytest

from deploy.local.stack import parse_replicas


@pytest.mark.parametrize("spec, expected", [
    ("routing=3,sla=2", {"routing": 3, "sla": 2}),
    ("", {}),
    ("portal=2", {"portal": 2}),
    (" routing=3 , ,search=1,", {"routing": 3, "search": 1}),
])
def test_parse_replicas(spec, expected):
    assert parse_replicas(spec) == expected


@pytest.mark.parametrize("spec", [
    "routing", "routing=", "routing=0", "routing=-1", "routing=two", "routing=1.5",
    "mailer=2", "=2", "routing=3,bogus=1", "routing=²", "routing=3,routing=2",
])
def test_parse_replicas_rejects_bad_specs(spec):
    with pytest.raises(click.UsageError) as exc:
        parse_replicas(spec)
    assert "HELPDESK_REPLICAS" in exc.value.message


# --------------------------------------------------------------------- ports and PID files

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from deploy.local import stack  # noqa: E402

LISTENER = ("import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); "
            "s.listen(); time.sleep(600)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for name in ("HELPDESK_EPMD_PORT", "HELPDESK_PORTAL_URL", "HELPDESK_AMQP_URI",
                 "HELPDESK_MONGO_URI", "HELPDESK_ES_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HELPDESK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HELPDESK_AMQP_PORT", "6100")
    return stack.Settings.from_env("test")


def test_rabbit_inter_node_and_epmd_ports_derive_from_the_amqp_port(settings, monkeypatch):
    assert (settings.rabbit_dist_port, settings.epmd_port) == (26100, 36100)
    monkeypatch.setenv("HELPDESK_EPMD_PORT", "4400")
    assert stack.Settings.from_env("test").epmd_port == 4400
    monkeypatch.setenv("HELPDESK_AMQP_PORT", "46000")
    with pytest.raises(click.UsageError):
        stack.Settings.from_env("test")


def test_a_user_set_portal_url_wins(settings, monkeypatch):
    assert settings.service_env()["HELPDESK_PORTAL_URL"] == settings.portal_url
    monkeypatch.setenv("HELPDESK_PORTAL_URL", "https://help.example.com")
    assert settings.service_env()["HELPDESK_PORTAL_URL"] == "https://help.example.com"


def test_a_port_held_by_another_process_is_refused_and_nothing_starts(settings):
    port = _free_port()
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", port))
        foreign.listen()
        with pytest.raises(click.ClickException) as refused:
            stack.start_server(settings, "mongo", {port: "HELPDESK_MONGO_PORT"},
                               [sys.executable, "-c", LISTENER.format(port=port)])
    assert refused.value.message.startswith(f"port {port} is in use by another process")
    assert "set HELPDESK_MONGO_PORT" in refused.value.message
    assert stack.read_pid(settings, "mongo") is None


def test_stop_ends_what_it_started_and_only_that(settings):
    port = _free_port()
    pid = stack.start_server(settings, "mongo", {port: "HELPDESK_MONGO_PORT"},
                             [sys.executable, "-c", LISTENER.format(port=port)])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        stack.wait_server(settings, "mongo", "listener", port, "HELPDESK_MONGO_PORT", 30)
        assert stack.port_holders(port) == [pid] and stack.held_by(port, pid)
        # Ours already holds the port: starting again is a no-op, not a conflict.
        assert stack.start_server(settings, "mongo", {port: "HELPDESK_MONGO_PORT"}, ["false"]) \
            == pid
        assert stack.terminate(settings, "mongo")
        assert not stack._alive(pid) and not stack.port_holders(port)
        assert bystander.poll() is None
        assert not stack.terminate(settings, "mongo")  # nothing recorded any more
    finally:
        bystander.kill()
        bystander.wait()


def test_a_pid_file_older_than_its_process_names_someone_else(settings):
    """After a reboot (or a long time), the recorded number may belong to another process."""
    import os

    pid_file = stack._pid_file(settings, "mongo")
    pid_file.write_text(str(os.getpid()))
    assert stack.read_pid(settings, "mongo") == os.getpid()
    os.utime(pid_file, (1_000_000, 1_000_000))  # written long before this process started
    assert stack.read_pid(settings, "mongo") is None
    assert not stack.terminate(settings, "mongo")  # and stop leaves it alone


def test_a_spawned_process_stays_ours_when_the_wall_clock_jumps(settings):
    """A VM restored from a snapshot steps its clock: the boot time the kernel reports moves
    and every process seems to have started after its PID file was written.  The start
    recorded in ticks since boot does not move, so stop still finds the process."""
    import os

    pid = stack.spawn(settings, "mongo", ["sleep", "60"])
    try:
        pid_file = stack._pid_file(settings, "mongo")
        os.utime(pid_file, (1_000_000, 1_000_000))  # as if written long before it started
        assert stack.read_pid(settings, "mongo") == pid
        pid_file.write_text(f"{pid} 1")  # the number reused by a process started later
        assert stack.read_pid(settings, "mongo") is None
        stack._record_pid(pid_file, pid)
        assert stack.terminate(settings, "mongo") and not stack._alive(pid)
    finally:
        if stack._alive(pid):
            os.killpg(pid, 9)


def test_the_stacks_own_exported_uris_are_not_external_servers(settings, monkeypatch):
    """`eval "$(stack env)"` exports the local URIs; stop and start must still treat the
    servers as the stack's own (an external URI would skip them)."""
    for name, value in settings.service_env().items():
        if name in ("HELPDESK_AMQP_URI", "HELPDESK_MONGO_URI", "HELPDESK_ES_URL"):
            monkeypatch.setenv(name, value)
    again = stack.Settings.from_env("test")
    assert (again.external_amqp_uri, again.external_mongo_uri, again.external_es_url) \
        == (None, None, None)
    monkeypatch.setenv("HELPDESK_AMQP_URI", "amqp://guest:guest@broker.example:5672/")
    assert stack.Settings.from_env("test").amqp_uri == "amqp://guest:guest@broker.example:5672/"


# --------------------------------------------------------------------- the Rust Mongo server
#
# The real build takes ~15 min; these use a stand-in `cargo` script that "installs" a tiny
# executable (or fails) to prove the cache, the atomic rename and the cargo lookup.

FAKE_CARGO = """#!/bin/sh
PATH=/usr/bin:/bin
echo "   Compiling secantus-mdb v0.0.0"
[ -n "$FAKE_CARGO_FAIL" ] && exit 101
while [ "$1" != "--root" ]; do shift; done
mkdir -p "$2/bin"
printf '#!/bin/sh\\necho secantusd-rs fake\\n' > "$2/bin/secantusd-rs"
chmod +x "$2/bin/secantusd-rs"
"""


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    """A machine where cargo is only in rustup's ~/.cargo/bin, not on PATH."""
    home = tmp_path / "home"
    cargo = home / ".cargo" / "bin" / "cargo"
    cargo.parent.mkdir(parents=True)
    cargo.write_text(FAKE_CARGO)
    cargo.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CARGO_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no cargo on PATH
    return home


def test_cargo_is_found_in_rustups_home_when_not_on_path(fake_home):
    assert stack.find_cargo() == str(fake_home / ".cargo" / "bin" / "cargo")


def test_the_server_is_built_once_into_the_versioned_cache(fake_home, tmp_path):
    binary = stack.mongo_server_binary()
    assert binary == (tmp_path / "cache" / "helpdesk"
                      / f"secantusd-rs-{stack.MONGO_SERVER_VERSION}" / "bin" / "secantusd-rs")
    assert subprocess.run([str(binary)], capture_output=True, text=True).stdout.strip() \
        == "secantusd-rs fake"
    assert "Compiling" in binary.parents[1].with_name(binary.parents[1].name
                                                      + ".build.log").read_text()
    (fake_home / ".cargo" / "bin" / "cargo").unlink()  # a second call must not build again
    assert stack.mongo_server_binary() == binary


def test_a_failed_build_is_not_taken_as_done(fake_home, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CARGO_FAIL", "1")
    with pytest.raises(click.ClickException) as failed:
        stack.mongo_server_binary()
    assert "cargo exit 101" in failed.value.message
    assert "Compiling secantus-mdb" in failed.value.message  # the log's last lines
    root = stack.mongo_server_root()
    assert not root.exists()
    monkeypatch.delenv("FAKE_CARGO_FAIL")
    assert stack.mongo_server_binary().is_file()  # the next run builds again


def test_no_cargo_says_what_to_do(fake_home, tmp_path):
    (fake_home / ".cargo" / "bin" / "cargo").unlink()
    with pytest.raises(click.ClickException) as missing:
        stack.mongo_server_binary()
    assert "needs cargo" in missing.value.message
    assert "HELPDESK_MONGO_URI" in missing.value.message


@pytest.mark.parametrize("value, expected", [(None, 10), ("", 10), ("3", 3)])
def test_transaction_lifetime_setting(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("HELPDESK_MONGO_TXN_LIFETIME", raising=False)
    else:
        monkeypatch.setenv("HELPDESK_MONGO_TXN_LIFETIME", value)
    assert stack.mongo_txn_lifetime() == expected


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "ten"])
def test_a_bad_transaction_lifetime_is_refused(monkeypatch, value):
    monkeypatch.setenv("HELPDESK_MONGO_TXN_LIFETIME", value)
    with pytest.raises(click.UsageError):
        stack.mongo_txn_lifetime()


def test_the_stack_shares_one_session_and_each_process_leads_its_own_group(settings):
    """Linux shares the CPU between sessions first: the stack is one session, as one server
    would be, and stop still ends each process's whole group."""
    import os

    names = ("mongo", "elasticsearch")
    stack.in_stack_session(lambda: [stack.spawn(settings, name, ["sleep", "60"]) for name in names])
    pids = [stack.read_pid(settings, name) for name in names]
    try:
        assert None not in pids
        sessions = {os.getsid(pid) for pid in pids}
        assert len(sessions) == 1 and os.getsid(0) not in sessions
        assert [os.getpgid(pid) for pid in pids] == pids
        assert all(stack.terminate(settings, name) for name in names)
        assert not any(stack._alive(pid) for pid in pids)
    finally:
        for pid in pids:
            if pid and stack._alive(pid):
                os.killpg(pid, 9)


def test_a_failed_start_in_the_stacks_session_fails_the_command_with_its_message(capfd):
    def start():
        raise click.ClickException("port 1 is in use")

    with pytest.raises(SystemExit) as exited:
        stack.in_stack_session(start)
    assert exited.value.code == 1
    assert "Error: port 1 is in use" in capfd.readouterr().err

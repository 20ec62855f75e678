"""Every query on the ticket pipeline's hot path is served by an index (issue 18).

The four back-end services run in this process against the real servers with a command
listener on their Mongo client; a burst of tickets is filed, routed, clocked and indexed, then
answered and solved.  Every read the services sent (find, count, distinct, aggregate, and the
filters of update, delete and findAndModify) is then put to the server's ``explain``: none may
need a collection scan.  A filter-less read of a whole collection (routing's rules, a
department's settings by id, the demo's config) is the one deliberate exception: it reads
everything on purpose and is listed as such."""
from __future__ import annotations

import copy
import threading
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

import pytest
from pymongo import MongoClient, monitoring

from services.intake.service import IntakeService
from services.routing.service import RoutingService
from services.search.service import SearchService
from services.sla.service import SlaService
from tests.support import eventually, running

AGENT = {"id": "agent-hot", "name": "Agent Hot", "email": "hot@example.com",
         "departments": ["technical"], "capacity": 100}
CUSTOMER = {"id": "cust-hot", "role": "customer", "name": "Cu Stomer"}
AGENT_ACTOR = {"id": "agent-hot", "role": "agent", "name": "Agent Hot"}
READS = ("find", "count", "distinct", "aggregate")
WRITES = {"update": "updates", "delete": "deletes"}
# Driver and session bookkeeping a captured command carries; explain takes the query alone.
SESSION_FIELDS = ("lsid", "txnNumber", "autocommit", "startTransaction", "$clusterTime",
                  "readConcern", "writeConcern", "$db", "$readPreference", "cursor", "batchSize",
                  "singleBatch", "comment", "ordered", "bypassDocumentValidation", "let",
                  "maxTimeMS", "$audit", "apiVersion")
INDEX_STAGES = ("IXSCAN", "IDHACK", "COUNT_SCAN", "DISTINCT_SCAN", "EXPRESS_IXSCAN",
                "EXPRESS_CLUSTERED_IXSCAN", "EXPRESS_UPDATE", "EXPRESS_DELETE", "EOF")


class Recorder(monitoring.CommandListener):
    def __init__(self, databases: tuple[str, ...]):
        self.databases, self.commands, self.lock = databases, [], threading.Lock()

    def started(self, event):
        if event.database_name in self.databases and event.command_name in (
                *READS, *WRITES, "findAndModify"):
            with self.lock:
                self.commands.append((event.database_name, copy.deepcopy(dict(event.command))))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def with_app_name(uri: str, name: str) -> str:
    """The same server under a URI of its own: the services' cached client for it is new, so
    it is created with the listener registered."""
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query), appname=name)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


@pytest.fixture(scope="module")
def recorded(config, rpc):
    databases = tuple(f"{config['MONGO_DB']}_{s}" for s in ("intake", "routing", "sla", "search"))
    recorder = Recorder(databases)
    monitoring.register(recorder)
    traced = dict(config, MONGO_URI=with_app_name(config["MONGO_URI"], "hot-path-trace"))
    with running(traced, IntakeService, RoutingService, SlaService, SearchService):
        assert rpc.routing.upsert_department({"id": "technical", "name": "Technical"})["ok"]
        assert rpc.routing.upsert_agent(AGENT)["ok"]
        recorder.commands.clear()  # set-up is not the hot path
        numbers = [rpc.intake.create_ticket({
            "ticket": {"subject": f"VPN drops every {i} minutes",
                       "description": "The VPN client disconnects and asks for the password",
                       "department": "technical"},
            "requester": CUSTOMER, "channel": "api", "idempotency_key": f"hot-{i}"},
        )["ticket"]["number"] for i in range(6)]
        for number in numbers:
            eventually(lambda: (t := rpc.intake.get_ticket(number, AGENT_ACTOR)["ticket"])
                       ["assignee_id"] and t["sla"], timeout=30)
        assert rpc.intake.add_message(numbers[0], {"body": "Reinstall the client"},
                                      AGENT_ACTOR)["ok"]
        assert rpc.intake.change_status(numbers[0], {"status": "solved"}, AGENT_ACTOR)["ok"]
        eventually(lambda: any(r["number"] == numbers[0] for r in rpc.search.search(
            {"q": "VPN", "status": "solved"}, AGENT_ACTOR)["results"]), timeout=30)
    with recorder.lock:
        return list(recorder.commands)


def explained(client: MongoClient, database: str, command: dict) -> list[dict]:
    """One explain per query the command carries (updates and deletes may carry several)."""
    name = next(iter(command))
    body = {k: v for k, v in command.items() if k not in SESSION_FIELDS}
    if name in WRITES:
        statements = body.pop(WRITES[name])
        queries = [dict(body, **{WRITES[name]: [s]}) for s in statements]
    elif name == "aggregate":
        queries = [dict(body, cursor={})]
    else:
        queries = [body]
    return [client[database].command("explain", q, verbosity="queryPlanner") for q in queries]


def stages(plan) -> list[str]:
    found = []
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            found.append(plan["stage"])
        for value in plan.values():
            found += stages(value)
    elif isinstance(plan, list):
        for value in plan:
            found += stages(value)
    return found


def winning_plans(explain: dict) -> list:
    planner = explain.get("queryPlanner") or {}
    plans = [planner.get("winningPlan")] if planner else []
    for stage in explain.get("stages", []):  # aggregate: the $cursor stage's planner
        plans.append(stage.get("$cursor", {}).get("queryPlanner", {}).get("winningPlan"))
    return [p for p in plans if p]


def filter_of(command: dict) -> dict | None:
    name = next(iter(command))
    if name == "find":
        return command.get("filter") or {}
    if name in ("count", "distinct"):
        return command.get("query") or {}
    if name == "findAndModify":
        return command.get("query") or {}
    if name == "aggregate":
        first = (command.get("pipeline") or [{}])[0]
        return first.get("$match", {})
    if name in WRITES:
        return {"statements": [s.get("q") for s in command[WRITES[name]]]}
    return None


def test_the_pipeline_was_traced(recorded):
    kinds = {next(iter(c)) for _, c in recorded}
    assert {"find", "update", "findAndModify"} <= kinds, kinds
    assert len(recorded) > 50


def unindexed(client: MongoClient, recorded: list) -> tuple[list, int]:
    """The recorded queries that need a collection scan, and how many were checked."""
    scans, checked = [], 0
    for database, command in recorded:
        if filter_of(command) == {}:
            continue  # a deliberate read of a whole (small) collection
        for explain in explained(client, database, command):
            plans = winning_plans(explain)
            assert plans, explain
            found = [s for plan in plans for s in stages(plan)]
            checked += 1
            if "COLLSCAN" in found or not any(s in INDEX_STAGES for s in found):
                scans.append((database.split("_", 1)[1], next(iter(command)),
                              command[next(iter(command))], filter_of(command), found))
    return scans, checked


def test_every_hot_path_query_uses_an_index(recorded, config):
    scans, checked = unindexed(MongoClient(config["MONGO_URI"]), recorded)
    assert checked > 50
    assert not scans, "\n".join(map(repr, scans))


def test_the_check_sees_a_collection_scan(recorded, config):
    """The same check on queries no index serves (by subject, by an unindexed update filter)
    must report them: it can fail."""
    database = f"{config['MONGO_DB']}_intake"
    scans, checked = unindexed(MongoClient(config["MONGO_URI"]), [
        (database, {"find": "tickets", "filter": {"subject": "VPN drops every 1 minutes"}}),
        (database, {"update": "tickets", "updates": [
            {"q": {"description": "nothing"}, "u": {"$set": {"x": 1}}}]}),
        (database, {"find": "tickets", "filter": {"number": 1}})])
    assert checked == 3
    assert [(kind, query) for _, kind, _, query, _ in scans] == [
        ("find", {"subject": "VPN drops every 1 minutes"}),
        ("update", {"statements": [{"description": "nothing"}]})]

"""The secret that signs CSAT links (issue 12): intake makes one at first start and keeps it,
refuses to start with a public or short one, and a rotation leaves links already mailed
working until they expire.  Intake runs on the real broker and Mongo server."""
import os
import subprocess
import sys

from services.common.clock import SystemClock
from services.intake import domain
from services.intake.service import IntakeService
from tests.support import REPO_ROOT, running

CUSTOMER = {"id": "cust-csat", "role": "customer", "name": "Ann Customer"}
AGENT = {"id": "agent-csat", "role": "agent", "name": "Bob Agent"}


def solved_ticket(rpc) -> int:
    filed = rpc.intake.create_ticket({
        "ticket": {"subject": "Printer jams", "description": "On page 2",
                   "department": "technical", "requester_name": CUSTOMER["name"]},
        "requester": CUSTOMER, "channel": "api", "idempotency_key": None})
    assert filed["ok"], filed
    number = filed["ticket"]["number"]
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]
    return number


def test_made_at_first_start_kept_and_rotated_without_breaking_mailed_links(config, rpc, db):
    settings = db("intake").settings
    assert settings.find_one({"_id": "csat"}) is None
    with running(config, IntakeService):
        made = settings.find_one({"_id": "csat"})["current"]  # at start, before any ticket
        assert len(made) >= 48
        mailed = solved_ticket(rpc), solved_ticket(rpc)
        links = [domain.csat_token(n, CUSTOMER["id"], made, SystemClock().now()) for n in mailed]
    with running(config, IntakeService):  # a restart keeps it
        assert settings.find_one({"_id": "csat"})["current"] == made
        assert rpc.intake.submit_csat_by_token(links[0], {"score": 5})["ok"]
        rotated = subprocess.run([sys.executable, "-m", "services.intake.rotate_csat_secret"],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, HELPDESK_MONGO_DB=config["MONGO_DB"],
                                          HELPDESK_MONGO_URI=config["MONGO_URI"]))
        assert rotated.returncode == 0, rotated.stderr
        new = settings.find_one({"_id": "csat"})["current"]
        assert new != made
        # The running service accepts links signed with the new one at once (it checks
        # against the secrets read afresh); the link mailed before works.
        assert rpc.intake.submit_csat_by_token(links[1], {"score": 4})["ok"]
        fresh = solved_ticket(rpc)
        assert rpc.intake.submit_csat_by_token(
            domain.csat_token(fresh, CUSTOMER["id"], new, SystemClock().now()), {"score": 3})["ok"]
        forged = domain.csat_token(solved_ticket(rpc), CUSTOMER["id"], "change-me-csat-secret",
                                   SystemClock().now())
        assert rpc.intake.submit_csat_by_token(forged, {"score": 1})["status"] == 404


def test_intake_refuses_to_start_with_the_public_default_secret(config):
    env = dict(os.environ, HELPDESK_AMQP_URI=config["AMQP_URI"],
               HELPDESK_MONGO_URI=config["MONGO_URI"], HELPDESK_MONGO_DB=config["MONGO_DB"],
               HELPDESK_CSAT_SECRET="change-me-csat-secret", PYTHONPATH=str(REPO_ROOT))
    run = subprocess.run([sys.executable, "-m", "nameko", "run", "--config",
                          str(REPO_ROOT / "deploy" / "nameko.yaml"),
                          "services.intake.service:IntakeService"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "HELPDESK_CSAT_SECRET is a published default" in run.stdout + run.stderr

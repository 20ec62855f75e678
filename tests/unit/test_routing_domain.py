from datetime import datetime, timedelta, timezone

import pytest

from services.routing.domain import can_take, rank_candidates, reopened_after, settled_ahead

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


def agent(id, load=0, capacity=5, status="online", departments=("billing",), last=None,
          seq=0):
    return {"_id": id, "load": load, "capacity": capacity, "status": status,
            "departments": list(departments), "last_assigned_at": last, "seq": seq}


def ids(agents):
    return [a["_id"] for a in agents]


@pytest.mark.parametrize("a, ok", [
    (agent("a"), True),
    (agent("a", load=4, capacity=5), True),
    (agent("a", load=5, capacity=5), False),
    (agent("a", status="away"), False),
    (agent("a", status="offline"), False),
    (agent("a", departments=["it"]), False),
])
def test_can_take(a, ok):
    assert can_take(a, "billing") is ok


def test_only_eligible_agents_are_ranked():
    agents = [agent("full", load=3, capacity=3), agent("away", status="away"),
              agent("other", departments=["it"]), agent("ok", load=2)]
    assert ids(rank_candidates(agents, "billing")) == ["ok"]


def test_least_loaded_first():
    agents = [agent("b", load=3), agent("a", load=1), agent("c", load=2)]
    assert ids(rank_candidates(agents, "billing")) == ["a", "c", "b"]


def test_preferred_agent_first_even_if_busier():
    agents = [agent("idle", load=0), agent("prev", load=4)]
    assert ids(rank_candidates(agents, "billing", preferred_id="prev")) == ["prev", "idle"]


def test_preferred_agent_who_cannot_take_is_dropped():
    agents = [agent("idle"), agent("prev", status="offline")]
    assert ids(rank_candidates(agents, "billing", preferred_id="prev")) == ["idle"]


def test_round_robin_tie_break_by_last_assignment_then_id():
    agents = [agent("recent", last=T0 + timedelta(hours=1)), agent("z-never"),
              agent("older", last=T0), agent("a-never")]
    assert ids(rank_candidates(agents, "billing")) == ["a-never", "z-never", "older", "recent"]


def test_missing_last_assigned_key_counts_as_never():
    never = agent("b")
    del never["last_assigned_at"]
    assert ids(rank_candidates([agent("a", last=T0), never], "billing")) == ["b", "a"]


def test_agents_being_taken_by_other_placements_come_last_but_stay_candidates():
    agents = [agent("a", load=0), agent("b", load=1), agent("c", load=2)]
    assert ids(rank_candidates(agents, "billing", being_taken={"a", "b"})) == ["c", "a", "b"]
    # The previous agent of a reopened ticket is still asked first.
    assert ids(rank_candidates(agents, "billing", preferred_id="b",
                               being_taken={"b"})) == ["b", "a", "c"]


def test_no_candidates():
    assert rank_candidates([], "billing") == []
    assert rank_candidates([agent("a")], "legal") == []


# ---------------------------------------------------------------------- skills and availability

from services.routing.domain import (evaluate_rules, fingerprint, queue_order, raised,  # noqa
                                     recurring_cluster, rule_problems, similarity)


def skilled(id, languages=("en",), categories=(), products=(), **kw):
    return dict(agent(id, **kw), languages=list(languages), categories=list(categories),
                products=list(products))


def test_language_and_category_skills_are_required():
    agents = [skilled("en-billing", categories=["invoices"]), skilled("ru", languages=["ru"]),
              skilled("generalist", languages=["en", "ru"], load=3)]
    ticket = {"language": "ru", "category": "invoices"}
    assert ids(rank_candidates(agents, "billing", ticket=ticket)) == ["ru", "generalist"]
    ticket = {"language": "en", "category": "invoices"}
    assert ids(rank_candidates(agents, "billing", ticket=ticket)) == ["en-billing", "generalist"]
    ticket = {"language": "en", "category": "refunds"}
    assert ids(rank_candidates(agents, "billing", ticket=ticket)) == ["generalist"]


def test_product_skill():
    agents = [skilled("mobile", products=["mobile-app"]), skilled("any", load=1)]
    assert ids(rank_candidates(agents, "billing", ticket={"product": "web"})) == ["any"]


def test_vacation_counts_as_available_only_after_its_end():
    on_leave = dict(agent("a", status="vacation"), vacation_until=T0 + timedelta(days=3))
    assert not can_take(on_leave, "billing", now=T0)
    assert can_take(on_leave, "billing", now=T0 + timedelta(days=3))


def test_excluded_agent_is_not_offered():
    assert ids(rank_candidates([agent("a"), agent("b", load=2)], "billing",
                               exclude=["a"])) == ["b"]


def test_notices_to_an_agent_use_the_first_language_of_their_profile():
    from services.routing.domain import notice_language
    assert notice_language(skilled("a", languages=["ru", "en"])) == "ru"
    assert notice_language(skilled("b", languages=[])) is None  # generalist: the fallback
    assert notice_language(agent("c")) is None


def test_queue_moves_only_when_a_free_agent_has_a_waiting_tickets_skills():
    from services.routing.domain import queue_can_move
    waiting = [{"_id": "t1", "language": "ru", "category": None, "product": None}]
    full = skilled("full", languages=["ru"], load=5, capacity=5)
    english = skilled("english", languages=["en"])
    assert not queue_can_move(waiting, [full, english], "billing", T0)
    assert not queue_can_move([], [english], "billing", T0)
    assert queue_can_move(waiting, [full, english, skilled("ru", languages=["ru"])],
                          "billing", T0)
    # Someone from another department with room does not help this one.
    assert not queue_can_move(waiting, [skilled("ru-it", languages=["ru"],
                                                departments=["it"])], "billing", T0)


def test_queue_moves_once_a_vacation_has_ended():
    from services.routing.domain import queue_can_move
    waiting = [{"_id": "t1", "language": "en"}]
    back = dict(skilled("back"), status="vacation", vacation_until=T0 + timedelta(hours=1))
    assert not queue_can_move(waiting, [back], "billing", T0)
    assert queue_can_move(waiting, [back], "billing", T0 + timedelta(hours=1))


# ---------------------------------------------------------------------- routing rules

TICKET = {"ticket_id": "t1", "number": 1, "subject": "Refund for invoice 42",
          "description": "I was charged twice", "department": "general", "category": None,
          "priority": "normal", "channel": "email", "language": "en", "tags": ["vip"],
          "organization": "acme"}


def rule(id, conditions, actions, position=10, **kw):
    return {"id": id, "name": id, "position": position, "conditions": conditions,
            "actions": actions, **kw}


def cond(field, op, value):
    return {"field": field, "op": op, "value": value}


def test_keyword_rule_sets_department_and_category():
    rules = [rule("refunds", [cond("text", "contains_any", ["REFUND", "возврат"])],
                  {"department": "billing", "category": "refunds"})]
    out = evaluate_rules(rules, TICKET)
    assert out["fired"] == ["refunds"]
    assert out["ticket"]["department"] == "billing" and out["ticket"]["category"] == "refunds"
    assert out["trace"][0]["reasons"] == ["text contains 'REFUND'"]
    assert TICKET["department"] == "general"  # the input is not changed


def test_russian_keywords_ignore_case_and_yo():
    rules = [rule("r", [cond("subject", "contains_any", ["ошибка"])], {"priority": "high"})]
    out = evaluate_rules(rules, dict(TICKET, subject="ОШИБКА при входе"))
    assert out["ticket"]["priority"] == "high"
    rules = [rule("r", [cond("subject", "contains_any", ["всё"])], {"priority": "high"})]
    assert evaluate_rules(rules, dict(TICKET, subject="Все сломалось"))["fired"] == ["r"]


def test_all_conditions_must_hold_unless_match_any():
    conditions = [cond("channel", "equals", "email"), cond("organization", "in", ["globex"])]
    assert evaluate_rules([rule("r", conditions, {"priority": "high"})], TICKET)["fired"] == []
    out = evaluate_rules([rule("r", conditions, {"priority": "high"}, match="any")], TICKET)
    assert out["fired"] == ["r"]
    assert out["trace"][0]["reasons"][1] == "organization is 'acme', rule wants one of ['globex']"


def test_rules_apply_in_order_and_stop_ends_the_walk():
    rules = [rule("late", [], {"priority": "low"}, position=30),
             rule("first", [cond("tags", "has_any", ["vip"])], {"priority": "urgent",
                                                                "add_tags": ["escalated"]},
                  position=1, stop=True),
             rule("second", [], {"category": "x"}, position=2)]
    out = evaluate_rules(rules, TICKET)
    assert out["fired"] == ["first"]
    assert out["ticket"]["priority"] == "urgent" and out["ticket"]["tags"] == ["vip", "escalated"]
    assert [t["rule_id"] for t in out["trace"]] == ["first"]


def test_later_rules_see_earlier_changes_and_disabled_rules_are_skipped():
    rules = [rule("to-billing", [], {"department": "billing"}, position=1),
             rule("off", [], {"priority": "urgent"}, position=2, enabled=False),
             rule("billing-high", [cond("department", "equals", "billing")],
                  {"priority": "high"}, position=3)]
    out = evaluate_rules(rules, TICKET)
    assert out["fired"] == ["to-billing", "billing-high"] and out["ticket"]["priority"] == "high"


def test_regex_and_tag_conditions_explain_misses():
    rules = [rule("r", [cond("subject", "matches", r"invoice\s+\d+"),
                        cond("tags", "has_all", ["vip", "enterprise"])], {"priority": "high"})]
    out = evaluate_rules(rules, TICKET)
    assert out["fired"] == []
    assert out["trace"][0]["reasons"] == [
        "subject matches /invoice\\s+\\d+/ at 'invoice 42'", "tags lacks ['enterprise']"]


@pytest.mark.parametrize("condition, actions, where, fragment", [
    (cond("mood", "equals", "angry"), {"priority": "high"}, "conditions.0", "Unknown field 'mood'"),
    (cond("subject", "matches", "(unclosed"), {"priority": "high"}, "conditions.0",
     "Invalid regular expression"),
    (cond("subject", "equals", "x"), {"priority": "high"}, "conditions.0",
     "Operator 'equals' does not apply to 'subject'"),
    (cond("tags", "has_any", "vip"), {"priority": "high"}, "conditions.0", "non-empty list"),
    (cond("channel", "equals", "email"), {"department": "nowhere"}, "actions.department",
     "Unknown department 'nowhere'"),
    (cond("channel", "equals", "email"), {}, "actions", "must do something"),
])
def test_bad_rules_are_explained(condition, actions, where, fragment):
    problems = rule_problems(rule("bad", [condition], actions), ["billing", "general"])
    assert fragment in problems[where][0]


def test_good_rule_has_no_problems():
    good = rule("ok", [cond("text", "contains_any", ["refund"]),
                       cond("subject", "matches", r"^\[urgent\]")], {"department": "billing"})
    assert rule_problems(good, ["billing"]) == {}


# ---------------------------------------------------------------------- queue order

def entry(id, priority, minutes, due_hours=None):
    return {"_id": id, "priority": priority, "queued_at": T0 + timedelta(minutes=minutes),
            "sla_due": T0 + timedelta(hours=due_hours) if due_hours is not None else None}


def test_fifo_is_arrival_order():
    entries = [entry("b", "urgent", 5), entry("a", "low", 1), entry("c", "normal", 9)]
    assert ids(queue_order(entries, "fifo")) == ["a", "b", "c"]


def test_differentiated_is_priority_then_sla_then_age():
    entries = [entry("old-normal", "normal", 0), entry("urgent", "urgent", 50),
               entry("normal-due-soon", "normal", 20, due_hours=1),
               entry("normal-due-later", "normal", 10, due_hours=5), entry("low", "low", -100)]
    assert ids(queue_order(entries, "differentiated")) == [
        "urgent", "normal-due-soon", "normal-due-later", "old-normal", "low"]


def test_raise_priority_one_step_and_cap():
    assert raised("normal") == "high" and raised("urgent") == "urgent"


# ---------------------------------------------------------------------- recurring problems

def test_similarity_is_language_aware_and_ignores_case():
    a = fingerprint("Не приходит письмо для сброса пароля", "")
    b = fingerprint("не приходит письмо сброса пароль", "ПОМОГИТЕ")
    c = fingerprint("Invoice has the wrong VAT number", "")
    assert similarity(a, b) >= 0.5
    assert similarity(a, c) == 0.0


def recent(id, text, minutes_ago, department="it", incident_id=None):
    return {"_id": id, "number": 1, "department": department, "incident_id": incident_id,
            "created_at": T0 - timedelta(minutes=minutes_ago),
            "fingerprint": sorted(fingerprint(text, ""))}


SETTINGS = {"incident_threshold": 3, "incident_window_minutes": 30, "incident_similarity": 0.5}


def test_threshold_of_similar_tickets_in_the_window_declares_an_incident():
    new = recent("new", "VPN is down again", 0)
    others = [recent("a", "VPN is down", 5), recent("b", "vpn down again!", 10),
              recent("old", "VPN is down again", 90), recent("other-dept", "VPN is down", 1,
                                                             department="hr"),
              recent("unrelated", "Printer jam", 2)]
    cluster = recurring_cluster(new, others, SETTINGS, T0)
    assert cluster["declare"] and ids(cluster["members"]) == ["a", "b"]
    assert not recurring_cluster(new, others[:1], SETTINGS, T0)["declare"]


def test_new_similar_ticket_joins_the_existing_incident():
    new = recent("new", "VPN is down again", 0)
    cluster = recurring_cluster(new, [recent("a", "VPN is down", 5, incident_id="inc-1")],
                                SETTINGS, T0)
    assert cluster == {"incident_id": "inc-1", "members": cluster["members"], "declare": False}


def test_generalist_with_no_languages_listed_takes_any_language():
    assert can_take(skilled("any", languages=()), "billing", {"language": "ru"})
    assert not can_take(skilled("en"), "billing", {"language": "ru"})


def test_who_may_reassign_to_whom():
    from services.routing.domain import reassign_refusal
    desk_agent = {"id": "a", "name": "Anna", "departments": ["desk"]}
    target = {"_id": "b", "name": "Boris", "departments": ["desk"]}
    supervisor = {"id": "s", "role": "supervisor"}
    agent = {"id": "a", "role": "agent"}
    assert reassign_refusal("desk", supervisor, None, target, True) is None
    assert reassign_refusal("desk", agent, desk_agent, target, False) is None
    assert reassign_refusal("desk", agent, desk_agent, target, True)[0] == 403
    assert reassign_refusal("other", agent, desk_agent, dict(target, departments=["other"]),
                            False)[0] == 403
    assert reassign_refusal("desk", {"id": "c", "role": "customer"}, None, target, False)[0] == 403
    assert reassign_refusal("desk", supervisor, None, None, False)[0] == 404
    automation = {"id": "automation", "role": "system"}  # a trigger's assign action
    assert reassign_refusal("desk", automation, None, target, False) is None
    assert reassign_refusal("desk", automation, None, target, True)[0] == 403
    status, errors = reassign_refusal("billing", supervisor, None, target, False)
    assert status == 400 and "Boris does not work in department 'billing'" in errors["agent_id"][0]


# ---------------------------------------------------------------------- customer organization and plan

def test_a_rule_on_the_customer_plan_fires_and_explains():
    rules = [rule("gold", [cond("plan", "in", ["gold", "platinum"])], {"priority": "high"})]
    assert rule_problems(rules[0], []) == {}
    out = evaluate_rules(rules, dict(TICKET, plan="gold"))
    assert out["fired"] == ["gold"] and out["ticket"]["priority"] == "high"
    assert evaluate_rules(rules, dict(TICKET, plan=None))["trace"][0]["reasons"] == [
        "plan is None, rule wants one of ['gold', 'platinum']"]


def test_organization_names_in_rules_become_the_slug_tickets_carry():
    from services.routing.domain import normalised_rule
    saved = normalised_rule(rule("acme", [cond("organization", "equals", "Acme Corp."),
                                          cond("organization", "in", ["Globex", "ab_c"]),
                                          cond("subject", "contains_any", ["Acme Corp"])],
                                 {"priority": "high"}))
    assert [c["value"] for c in saved["conditions"]] == ["acme-corp", ["globex", "ab_c"],
                                                         ["Acme Corp"]]
    acme = normalised_rule(rule("acme", [cond("organization", "equals", "Acme Corp.")],
                                {"priority": "high"}))
    assert evaluate_rules([acme], dict(TICKET, organization="acme-corp"))["fired"] == ["acme"]
    # Nothing Latin left: the rule is refused at save ("needs a non-empty string").
    blank = normalised_rule(rule("x", [cond("organization", "equals", "ООО")], {"priority": "high"}))
    assert "conditions.0" in rule_problems(blank, [])


def test_incident_thresholds_stay_within_what_detection_compares():
    from services.routing.domain import INCIDENT_CANDIDATES, detects_incidents
    from services.routing.schemas import DepartmentSchema
    base = {"id": "net", "name": "Network"}
    assert DepartmentSchema().load(base)["incident_detection"] is True
    assert DepartmentSchema().load({**base, "incident_threshold": INCIDENT_CANDIDATES})
    errors = DepartmentSchema().validate({**base, "incident_threshold": INCIDENT_CANDIDATES + 1})
    assert "incident_threshold" in errors
    assert detects_incidents({}) and not detects_incidents({"incident_detection": False})


def test_alike_tickets_share_a_signature_band_and_others_do_not():
    from services.routing.domain import SIGNATURE_BANDS, signature_bands
    texts = ["VPN не подключается с утра", "vpn НЕ подключается", "Не подключается VPN с утра!",
             "Принтер печатает пустые листы"]
    bands = [set(signature_bands(fingerprint(t, ""))) for t in texts]
    assert all(len(b) == SIGNATURE_BANDS for b in bands)
    assert bands[0] & bands[1] and bands[0] & bands[2] and bands[1] & bands[2]
    assert not bands[3] & (bands[0] | bands[1] | bands[2])
    # Stable across processes (stored keys are compared with new ones): no salted hash().
    assert signature_bands(["vpn"]) == signature_bands(["vpn"])
    assert signature_bands([]) == []


def test_minhashes_are_the_big_integer_values_stored_keys_were_made_from():
    """The 64-bit arithmetic gives exactly the earlier big-integer MinHash (band keys stored
    by a previous version must still match new ones), edge values included."""
    import random
    from services.routing.domain import _MERSENNE, _MINHASH, _minhashes, signature_bands
    rng = random.Random(3)
    for size in (1, 2, 9, 60):
        for _ in range(30):
            hashes = [rng.getrandbits(64) for _ in range(size)]
            hashes += rng.sample([0, 1, _MERSENNE - 1, _MERSENNE, _MERSENNE + 1, 2**64 - 1], 2)
            assert _minhashes(hashes) == [min((a * h + b) % _MERSENNE for h in hashes)
                                          for a, b in _MINHASH]
    # A band key of "VPN не подключается" as this scheme stores it (12 bands of 2 rows); the
    # previous one (24 of 3, "0-18c5623e36f1") named its lists without the scheme, so its
    # lists are never read as this scheme's.
    keys = signature_bands(fingerprint("VPN не подключается", ""))
    assert keys[0] == "0x2-068e8bbe8da4"
    assert all(key.split("-")[0].endswith("x2") for key in keys)


def test_signature_bands_find_most_pairs_at_the_default_threshold():
    """Empirically, over generated pairs of Jaccard similarity >= 0.5 (recall), and that pairs
    below 0.2 rarely become candidates (what is read)."""
    import random
    from services.routing.domain import signature_bands, similarity
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(400)]
    found = far = similar = dissimilar = 0
    for _ in range(300):
        a = set(rng.sample(vocab, 30))
        b = set(rng.sample(sorted(a), rng.randint(20, 30))) | set(rng.sample(vocab, rng.randint(0, 10)))
        shared = bool(set(signature_bands(a)) & set(signature_bands(b)))
        if similarity(a, b) >= 0.5:
            similar += 1
            found += shared
        c = set(rng.sample(vocab, 30))
        if similarity(a, c) < 0.2:
            dissimilar += 1
            far += bool(set(signature_bands(a)) & set(signature_bands(c)))
    assert similar > 100 and found / similar >= 0.93
    assert dissimilar > 100 and far / dissimilar <= 0.1


def test_a_solve_is_late_only_behind_a_later_reopening():
    copy = {"reopened_at": T0}
    assert reopened_after(copy, T0 - timedelta(seconds=1))
    assert not reopened_after(copy, T0)
    assert not reopened_after(copy, T0 + timedelta(seconds=1))
    assert not reopened_after({}, T0)


@pytest.mark.parametrize("copy, settled", [
    ({}, False),  # nothing came before the creation
    ({"placed_ahead": True, "reopened_at": T0}, False),  # reopened first: placed
    ({"settled_ahead_at": T0}, True),  # solved first
    ({"settled_ahead_at": T0, "placed_ahead": True, "reopened_at": T0 - timedelta(minutes=1)},
     True),  # reopened, then solved again
    ({"settled_ahead_at": T0, "placed_ahead": True, "reopened_at": T0 + timedelta(minutes=1)},
     False),  # solved, then reopened: the reopening placed it
])
def test_a_ticket_solved_before_its_creation_is_placed_only_if_reopened_since(copy, settled):
    assert settled_ahead(copy) is settled


# ---------------------------------------------------------------------- tickets routed together

from services.routing.domain import (BatchPlacement, Given, SlotsTaken,  # noqa: E402
                                     place_batch, slot_taken)


def new_ticket(id, department="billing", **fields):
    return {"ticket_id": id, "number": int(id[1:]), "department": department, **fields}


def given_to(placement):
    """Each given ticket's id, its agent's id, and the agent's load and seq just after."""
    return [(g.ticket["ticket_id"], g.agent["_id"], g.agent["load"], g.agent["seq"])
            for g in placement.given]


def test_several_tickets_of_a_batch_go_to_one_agent_one_slot_after_another():
    only = agent("a", load=1, seq=7, last=T0)
    tickets = [new_ticket("t1"), new_ticket("t2"), new_ticket("t3")]
    now = T0 + timedelta(minutes=1)
    placed = place_batch(tickets, [only], now)
    # Each assignment sees the load and seq the one before left: the log replays in order.
    assert given_to(placed) == [("t1", "a", 2, 8), ("t2", "a", 3, 9), ("t3", "a", 4, 10)]
    assert [g.ticket for g in placed.given] == tickets
    assert all(g.agent["last_assigned_at"] == now for g in placed.given)
    # One write for the agent: pinned to what was read, three slots.
    assert placed.taken == [SlotsTaken(only, 3)]
    assert only["load"] == 1 and only["seq"] == 7  # the agents as read are left as they were
    assert placed.waiting == []


def test_a_batch_spreads_over_agents_as_tickets_arriving_one_by_one_would():
    agents = [agent("a", load=0, seq=3), agent("b", load=1, seq=5, last=T0)]
    tickets = [new_ticket(f"t{i}") for i in range(1, 5)]
    one_by_one, now = [], T0 + timedelta(minutes=1)
    for ticket in tickets:  # take_slot after take_slot, each reading the loads afresh
        best = rank_candidates(agents, "billing", ticket=ticket, now=now)[0]
        agents = [slot_taken(a, now) if a is best else a for a in agents]
        one_by_one.append(best["_id"])
    placed = place_batch(tickets, [agent("a", load=0, seq=3),
                                   agent("b", load=1, seq=5, last=T0)], now)
    assert [g.agent["_id"] for g in placed.given] == one_by_one == ["a", "b", "a", "a"]
    # t4: a and b both at 2, both assigned this moment: the id decides, as one by one.
    assert given_to(placed) == [("t1", "a", 1, 4), ("t2", "b", 2, 6), ("t3", "a", 2, 5),
                                ("t4", "a", 3, 6)]
    assert [(t.agent["_id"], t.agent["load"], t.agent["seq"], t.count)
            for t in placed.taken] == [("a", 0, 3, 3), ("b", 1, 5, 1)]


def test_tickets_wait_once_the_capacity_runs_out_mid_batch():
    agents = [agent("a", load=1, capacity=3), agent("away", status="away"),
              agent("other", departments=["it"])]
    tickets = [new_ticket(f"t{i}") for i in range(1, 5)]
    placed = place_batch(tickets, agents, T0)
    assert given_to(placed) == [("t1", "a", 2, 1), ("t2", "a", 3, 2)]
    assert placed.waiting == tickets[2:]
    assert placed.taken == [SlotsTaken(agents[0], 2)]


def test_a_batch_nobody_can_take_waits_whole_and_takes_no_slot():
    tickets = [new_ticket("t1"), new_ticket("t2", department="legal")]
    assert place_batch(tickets, [agent("full", load=5, capacity=5)], T0) == BatchPlacement(
        [], tickets, [])
    assert place_batch([], [agent("a")], T0) == BatchPlacement([], [], [])


def test_a_follow_up_goes_to_its_preferred_agent_and_skills_are_required():
    agents = [skilled("idle"), skilled("prev", load=3),
              skilled("ru", languages=["ru"], load=4)]
    tickets = [new_ticket("t1", language="en"),
               new_ticket("t2", language="en", preferred_agent_id="prev"),
               new_ticket("t3", language="ru"),
               new_ticket("t4", language="ru", preferred_agent_id="prev")]  # prev: no Russian
    placed = place_batch(tickets, agents, T0)
    assert given_to(placed) == [("t1", "idle", 1, 1), ("t2", "prev", 4, 1),
                                ("t3", "ru", 5, 1)]
    assert placed.waiting == [tickets[3]]  # ru is full now
    assert {t.agent["_id"]: t.count for t in placed.taken} == {"idle": 1, "prev": 1, "ru": 1}


def test_agents_being_taken_by_other_placements_get_a_batch_last():
    agents = [agent("a", load=0), agent("b", load=1, capacity=3)]
    tickets = [new_ticket(f"t{i}") for i in range(1, 5)]
    placed = place_batch(tickets, agents, T0, being_taken={"a"})
    # b, though busier, until it is full; then a, still a candidate.
    assert [g.agent["_id"] for g in placed.given] == ["b", "b", "a", "a"]
    assert [(t.agent["_id"], t.count) for t in placed.taken] == [("b", 2), ("a", 2)]


def test_a_batch_over_several_departments_keeps_each_ticket_in_its_own():
    agents = [agent("both", departments=["billing", "it"], load=1),
              agent("it-only", departments=["it"], load=0)]
    tickets = [new_ticket("t1", department="it"), new_ticket("t2"),
               new_ticket("t3", department="it")]
    placed = place_batch(tickets, agents, T0)
    assert given_to(placed) == [("t1", "it-only", 1, 1), ("t2", "both", 2, 1),
                                ("t3", "it-only", 2, 2)]
    assert isinstance(placed.given[0], Given)

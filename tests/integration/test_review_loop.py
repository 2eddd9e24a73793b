"""The review loop closes: staff review in the console, and the chat API serves what they decided.

Driven as staff would (sign in, CSRF token from the page, review form), then as a patient would (/api/chat),
on SQLite and on PostgreSQL."""

from __future__ import annotations

from msassistant.store.models import BlockedAnswer, PassageFlag, ReviewedAnswer

from .test_admin import console, csrf_of  # noqa: F401 - the console fixture
from .test_postgres import db_url  # noqa: F401 - the SQLite/PostgreSQL fixture

CORRECTED = ("Azathioprine can cause serious side effects, so your team checks your blood counts and liver "
             "regularly while you take it.")


def ask(api, message: str) -> dict:
    r = api.post("/api/chat", json={"message": message})
    assert r.status_code == 200, r.text
    return r.json()


def review(staff, body: dict, **form) -> None:
    page = staff.get(f"/admin/conversations/{body['session_id']}")
    r = staff.post(f"/admin/turns/{body['turn_id']}/review", follow_redirects=False,
                   data={"csrf_token": csrf_of(page.text), **form})
    assert r.status_code == 303, r.text


def assert_safe(reply: dict) -> None:
    assert reply["answer"].rstrip().endswith(reply["safety"]["red_flags"])
    assert reply["safety"]["care_team"] in reply["answer"]


def test_a_corrected_answer_is_served_to_the_question_and_its_paraphrase_with_safety_intact(console):
    api, staff = console.client(), console.signed_in("alice")
    first = ask(api, "What are the side effects of azathioprine?")
    assert CORRECTED not in first["answer"]
    review(staff, first, verdict="needs_correction", note="Say what is monitored.", corrected_answer=CORRECTED)

    for message in ("What are the side effects of azathioprine?", "what side effects does azathioprine have"):
        again = ask(api, message)
        assert again["category"] == "answer" and CORRECTED in again["answer"], message
        assert "Reviewed by the clinic team on" in again["answer"]
        assert again["citations"] and all(c["source"] == first["citations"][0]["source"] or c["source"]
                                          for c in again["citations"])
        assert_safe(again)
        steps = staff.get(f"/admin/conversations/{again['session_id']}").text
        assert "Review loop: served the clinic&#39;s reviewed answer" in steps or \
            "Review loop: served the clinic's reviewed answer" in steps
    other = ask(api, "Does physiotherapy help with balance?")
    assert CORRECTED not in other["answer"]

    urgent = ask(api, "I suddenly cannot see out of my left eye since this morning. What are the side effects of azathioprine?")
    assert urgent["category"] == "urgent" and urgent["safety"]["urgent"]
    assert urgent["answer"].startswith(urgent["safety"]["urgent"])  # triage first, whatever is served after it
    assert_safe(urgent)

    listing = staff.get("/admin/reviewed")
    assert CORRECTED in listing.text and "in use" in listing.text
    [row] = [r for r in staff.get("/admin/api/reviewed").json()["reviewed"] if not r["retired"]]
    r = staff.post(f"/admin/reviewed/{row['id']}/retire", data={"csrf_token": csrf_of(listing.text)},
                   follow_redirects=False)
    assert r.status_code == 303
    assert CORRECTED not in ask(api, "What are the side effects of azathioprine?")["answer"]
    with console.store.sessions() as db:
        assert db.query(ReviewedAnswer).count() == 1


def test_an_answer_marked_unsafe_is_not_served_again(console):
    api, staff = console.client(), console.signed_in("bob")
    first = ask(api, "Does azathioprine reduce relapses compared with interferon beta?")
    assert first["category"] == "answer" and first["citations"]
    review(staff, first, verdict="unsafe", note="Overstates the evidence.")
    again = ask(api, "Does azathioprine reduce relapses compared with interferon beta?")
    assert again["category"] == "no_coverage" and "does not cover" in again["answer"]
    assert again["citations"] == []
    assert_safe(again)
    with console.store.sessions() as db:
        assert db.query(BlockedAnswer).count() == 1
    assert "Overstates the evidence." in staff.get("/admin/reviewed").text


def test_a_flagged_passage_is_not_cited_again_or_is_cited_with_the_note(console):
    api, staff = console.client(), console.signed_in("carol")
    first = ask(api, "What monitoring does natalizumab need?")
    cited = {c["passage"] for c in first["citations"]}
    target = next(c for c in first["citations"] if "natalizumab" in c["passage"].lower())
    page = staff.get(f"/admin/conversations/{first['session_id']}")
    r = staff.post(f"/admin/turns/{first['turn_id']}/flag", follow_redirects=False, data={
        "csrf_token": csrf_of(page.text), "citation": target["id"], "action": "exclude",
        "note": "The drug's label warns of PML, a brain infection."})
    assert r.status_code == 303
    again = ask(api, "What monitoring does natalizumab need?")
    assert target["passage"] not in {c["passage"] for c in again["citations"]}
    assert cited  # something was cited before the flag

    listing = staff.get("/admin/reviewed")
    assert "PML, a brain infection" in listing.text
    [flag] = staff.get("/admin/api/reviewed").json()["flags"]
    staff.post(f"/admin/flags/{flag['id']}/clear", data={"csrf_token": csrf_of(listing.text)})
    page = staff.get(f"/admin/conversations/{first['session_id']}")
    staff.post(f"/admin/turns/{first['turn_id']}/flag", data={
        "csrf_token": csrf_of(page.text), "citation": target["id"], "action": "annotate",
        "note": "The label warns of PML, a brain infection."})
    noted = ask(api, "What monitoring does natalizumab need?")
    assert "Note from the clinic team on [" in noted["answer"] and "PML" in noted["answer"]
    with console.store.sessions() as db:
        assert db.query(PassageFlag).count() == 2


def test_flag_and_review_forms_need_their_csrf_token(console):
    api, staff = console.client(), console.signed_in("dave")
    first = ask(api, "What are the side effects of fingolimod?")
    r = staff.post(f"/admin/turns/{first['turn_id']}/flag", follow_redirects=False,
                   data={"csrf_token": "wrong", "citation": 1, "action": "exclude", "note": "x"})
    assert r.status_code == 403
    assert api.post("/admin/reviewed/1/retire", follow_redirects=False).status_code in (303, 401, 403)


def test_todays_urgent_view_counts_today_in_the_clinic_time_zone(console):
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from .test_admin import add_turn

    zone = ZoneInfo(console.settings.clinic_timezone)
    local_midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    age_before = datetime.now(timezone.utc) - local_midnight.astimezone(timezone.utc) + timedelta(minutes=5)
    today = add_turn(console.store, "today-urgent-1", "my face dropped on one side", category="urgent",
                     triage_level="emergency", triage_rule="stroke_signs", age=timedelta(seconds=1))
    add_turn(console.store, "today-urgent-2", "old vision loss", category="urgent", triage_level="urgent",
             triage_rule="sudden_vision_loss", age=age_before)
    add_turn(console.store, "today-plain-1", "what is MS?", age=timedelta(seconds=1))
    page = console.signed_in("erin").get("/admin/urgent-today")
    assert page.status_code == 200
    assert today.session_id in page.text and "emergency: stroke signs" in page.text
    assert "today-urgent-2" not in page.text and "today-plain-1" not in page.text
    assert "1 turn with a red flag" in " ".join(page.text.split()) and console.settings.clinic_timezone in page.text


def test_a_second_reviewer_must_approve_when_the_clinic_requires_it(db_url, assistant, tmp_path):  # noqa: F811
    from conftest import make_settings
    from msassistant.api.app import create_app
    from msassistant.pipeline.assistant import Assistant
    from msassistant.store import LogStore

    from .test_admin import Console

    settings = make_settings(tmp_path, database_url=db_url, reviewed_needs_second_approval=True)
    store = LogStore(db_url)
    bot = Assistant(settings, embeddings=assistant.embeddings, index=assistant.index, logstore=store, llm=None)
    clinic = Console(create_app(settings, bot), store, settings, tmp_path)
    try:
        api, author, second = clinic.client(), clinic.signed_in("frank"), clinic.signed_in("grace")
        first = ask(api, "What are the side effects of azathioprine?")
        review(author, first, verdict="needs_correction", corrected_answer=CORRECTED)
        assert CORRECTED not in ask(api, "What are the side effects of azathioprine?")["answer"]  # not yet approved

        [row] = author.get("/admin/api/reviewed").json()["reviewed"]
        own = author.get("/admin/reviewed")
        assert "waiting for a second reviewer" in own.text
        refused = author.post(f"/admin/reviewed/{row['id']}/approve", data={"csrf_token": csrf_of(own.text)})
        assert refused.status_code == 400  # not the author's own
        page = second.get("/admin/reviewed")
        ok = second.post(f"/admin/reviewed/{row['id']}/approve", data={"csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
        assert ok.status_code == 303
        served = ask(api, "What are the side effects of azathioprine?")
        assert CORRECTED in served["answer"] and "Reviewed by the clinic team on" in served["answer"]
        assert_safe(served)
    finally:
        store.engine.dispose()

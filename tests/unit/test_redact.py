"""Redaction of personal details in patient and caregiver messages, and what it must leave alone."""

from __future__ import annotations

import json
import time

import pytest

from msassistant.store.redact import echo_scrub, name_spans, redact, redact_found, scrub, scrub_text

# (message, details that must disappear, tokens that must appear)
PERSONAL = [
    ("Hi, I'm writing for my husband. You can reach me at jane.doe+ms@example.co.uk if that's easier.",
     ["jane.doe+ms@example.co.uk"], ["[email]"]),
    ("My neuro nurse said to email ms.nurse@royal-hospital.nhs.uk about the tingling", ["ms.nurse@royal-hospital.nhs.uk"], ["[email]"]),
    ("Please call me back on +44 20 7946 0958 or my mobile 07700 900123, my legs have gone numb",
     ["7946 0958", "07700 900123"], ["[phone]"]),
    ("My daughter's number is (555) 123-4567 and mine is 555-123-4567", ["123-4567"], ["[phone]"]),
    ("I'm in France, my number is +33 6 12 34 56 78", ["6 12 34 56 78"], ["[phone]"]),
    ("US number +1 (555) 123-4567, text me", ["123-4567"], ["[phone]"]),
    ("Reach me on 0412 345 678 in Sydney about the Ocrevus infusion", ["0412 345 678"], ["[phone]"]),
    ("my phone is 07700900123", ["07700900123"], ["[phone]"]),
    ("Patient DOB 04/12/1961, on ocrelizumab since 2019, EDSS 6.5", ["04/12/1961"], ["[dob]"]),
    ("I was born on 4 December 1961 and was diagnosed with RRMS in 2019", ["4 December 1961"], ["[dob]"]),
    ("date of birth: 1961-12-04. Is fatigue normal?", ["1961-12-04"], ["[dob]"]),
    ("My mother (born March 3rd, 1948) has SPMS", ["March 3rd, 1948"], ["[dob]"]),
    ("I was born in Leeds on the 4th of December 1961.", ["4th of December 1961"], ["[dob]"]),
    ("D.O.B. 4.12.61 - new numbness in my hands", ["4.12.61"], ["[dob]"]),
    ("born in March 1961, is it too late to start DMTs?", ["March 1961"], ["[dob]"]),
    ("My mum lives at 12 Elm Street and I'm her carer, can she get help at home?", ["12 Elm Street"], ["[address]"]),
    ("Post the leaflet to 221B Baker St, London NW1 6XE please", ["221B Baker St", "NW1 6XE"], ["[address]"]),
    ("We moved to Flat 3, 45 high road, Bristol last month", ["Flat 3", "45 high road"], ["[address]"]),
    ("send it to 1600 Pennsylvania Avenue, Washington, DC 20500", ["1600 Pennsylvania Avenue", "20500"], ["[address]"]),
    ("I live at 42 Oak Dr. in Springfield", ["42 Oak Dr"], ["[address]"]),
    ("write to PO Box 1234", ["Box 1234"], ["[address]"]),
    ("my NHS number is 943 476 5919, can you check my MRI results?", ["943 476 5919"], ["[id]"]),
    ("NHS no. 9434765919", ["9434765919"], ["[id]"]),
    ("MRN: A1234567 at the Royal Infirmary", ["A1234567"], ["[id]"]),
    ("my hospital number is RX12345", ["RX12345"], ["[id]"]),
    ("I paid with card 4111 1111 1111 1111 for the wheelchair", ["4111 1111 1111 1111"], ["[id]"]),
    ("SSN 123-45-6789", ["123-45-6789"], ["[id]"]),
    ("patient id 00123456, ward 7", ["00123456"], ["[id]"]),
    ("reference 2023004512 from the pharmacy", ["2023004512"], ["[id]"]),
    ("my Medicare number is 2123 45670 1", ["2123 45670 1"], ["[id]"]),
]

ORDINARY = [
    "I have MRI scans every 3-6 months, is that normal?",
    "Relapses drop by 30-50% on interferon beta-1a, right?",
    "My EDSS is 6.5 since 2019",
    "It started 2 days ago and got worse yesterday",
    "Between 2018-2020 I was on Tecfidera 240 mg twice a day",
    "Between 2018 - 2020 I had 4 relapses",
    "I walk 2 km down the road every morning but my legs give out",
    "I take 10,000 IU of vitamin D and B12 1000 mcg",
    "My lymphocyte count was 0.6 x 10^9/L after the second course",
    "Ocrevus 600 mg every 6 months, last infusion on 12/03/2024",
    "I was born in 1961 and diagnosed at 45",
    "My 2 MS Dr appointments were cancelled",
    "keep the pills in 1 safe place",
    "Can I take 4 tablets a day of baclofen 10 mg?",
    "In 2020 I had 3 relapses, now 1 per year",
    "My vitamin D level is 75 nmol/L and my B12 is 350",
    "Is it normal to sleep 10-12 hours a day?",
    "I called NHS 111 yesterday about the numbness",
    "I've been a patient for 12 years",
    "Kesimpta 20 mg monthly, T2 lesions 14, 2 new gadolinium enhancing",
    "blood pressure 120/80, pulse 72",
    "my grandmother was born on a farm",
    "She was in hospital for 3 days in 2021",
    "I take 1.5 mg at 8.30 and 2.5 mg at 20.30",
    "Does siponimod work for SPMS? My neurologist mentioned a 21% reduction",
    "My husband needs help with 3 flights of stairs at home",
    "Heat makes my symptoms worse when it's over 30 degrees",
    "Cladribine: 2 courses, 1 year apart, 10 mg tablets",
    "I scored 24/30 on the cognitive test",
    "What is the relapse rate on natalizumab (Tysabri) 300 mg every 4 weeks?",
    "I'm 62 and was diagnosed in 1998 with relapsing-remitting MS",
    "My JCV index was 0.9 in 2023-05",
    "Is it ok to do 20-30 minutes of exercise 3 times a week?",
    "ICD-10 G35 is my diagnosis code",
    "I lost 5 kg in 2 months",
    "After 2 doses of the COVID-19 vaccine my fatigue was worse",
    "I got a 2.5 hour infusion at the infusion suite on floor 3",
]


@pytest.mark.parametrize("message,gone,tokens", PERSONAL, ids=[m[:40] for m, _, _ in PERSONAL])
def test_personal_details_are_replaced(message, gone, tokens):
    out = redact(message)
    for detail in gone:
        assert detail not in out, out
    for token in tokens:
        assert token in out, out


@pytest.mark.parametrize("message", ORDINARY, ids=[m[:40] for m in ORDINARY])
def test_ordinary_medical_text_is_left_alone(message):
    assert redact(message) == message


def test_the_rest_of_the_message_survives():
    message = ("I'm caring for my wife (DOB 04/12/1961, NHS number 943 476 5919). Since 2 days ago she can't see "
               "out of her left eye. Call me on 07700 900123 or write to 12 Elm Street. Should we go to A&E?")
    out = redact(message)
    assert out == ("I'm caring for my wife (DOB [dob], NHS number [id]). Since 2 days ago she can't see "
                   "out of her left eye. Call me on [phone] or write to [address]. Should we go to A&E?")


def test_redaction_reports_what_it_found():
    text, found = redact_found("mail bob@example.org or ring +44 20 7946 0958")
    assert text == "mail [email] or ring [phone]"
    assert [(f.kind, f.text) for f in found] == [("[email]", "bob@example.org"), ("[phone]", "+44 20 7946 0958")]


def test_digits_of_any_script_are_redacted():
    """Text with no digit and no "@" is passed over quickly; digits of other scripts still count as digits."""
    assert redact("call me on ０７７００ ９００１２３ please") == "call me on [phone] please"
    assert redact("my card number is ４５３９ １４８８ ０３４３ ６４６７") == "my card number is [id]"
    assert redact_found("numb legs and blurred vision since Tuesday") == ("numb legs and blurred vision since Tuesday", [])


def test_redaction_is_idempotent_and_handles_empty_text():
    once = redact("jane@example.com, 07700 900123, DOB 04/12/1961, 12 Elm Street, MRN 12345678")
    assert redact(once) == once
    assert redact("") == ""


def test_steps_lose_the_words_of_personal_details():
    """The pipeline's steps hold the message as lower-cased, stemmed words."""
    _, found = redact_found("I'm jane.doe@example.com at 12 Elm Street, phone 07700 900123, numb legs")
    steps = [{"step": "scope", "unknown_words": ["jane", "doe", "example", "elm", "street", "07700", "900123", "numb"]},
             {"step": "retrieve", "hits": [{"id": "003_abc:2", "score": 0.5}], "top_similarity": 0.41},
             {"step": "note", "text": "asked from 07700 900123"}]
    out = scrub(steps, found)
    assert out[0]["unknown_words"] == ["[email]", "[email]", "[email]", "[address]", "[address]", "[phone]", "[phone]", "numb"]
    assert out[1] == steps[1]
    assert out[2]["text"] == "asked from [phone]"


def test_derived_texts_and_echoes():
    _, found = redact_found("My DOB is 04/12/1961 and my email is jane@example.com")
    derived = scrub_text("my dob is 04 12 1961 and my email is jane example com fatigue", found)
    assert "1961" not in derived and "jane" not in derived and "example" not in derived
    assert derived.startswith("my dob is [") and derived.endswith("and my email is [email] [email] [email] fatigue")
    assert echo_scrub("We will write to jane@example.com. Fatigue is common.", found) == \
        "We will write to [email]. Fatigue is common."
    assert echo_scrub("Fatigue is common in MS.", found) == "Fatigue is common in MS."


def test_word_lists_joined_into_one_string_are_scrubbed():
    """The follow-up resolver keeps a topic as space-joined words."""
    _, found = redact_found("My wife (DOB 04/12/1961, email anna.k@example.org) is on azathioprine")
    out = scrub([{"step": "resolve", "topic": "dob email anna example org azathioprine"}], found)
    assert out == [{"step": "resolve", "topic": "dob email [email] [email] [email] azathioprine"}]


# ---- personal names -------------------------------------------------------------------------------------------
# (message, what it must become)
NAMES = [
    ("Hi, I am Sarah Jones, my husband Peter Jones has MS", "Hi, I am [name], my husband [name] has MS"),
    ("My name is Gareth and I was diagnosed last year", "My name is [name] and I was diagnosed last year"),
    ("I saw Dr Smith at 10.30 on 5 May", "I saw Dr [name] at 10.30 on 5 May"),
    ("Dr. Amelia Okonkwo told me to book an MRI in June.", "Dr. [name] told me to book an MRI in June."),
    ("My consultant Mr Fitzgerald wants me on Betaseron.", "My consultant Mr [name] wants me on Betaseron."),
    ("My neurologist, Professor Hargreaves, mentioned Mayzent", "My neurologist, Professor [name], mentioned Mayzent"),
    ("Megan started Kesimpta injections on Monday", "[name] started Kesimpta injections on Monday"),
    ("I told Sarah about Ocrevus.", "I told [name] about Ocrevus."),
    ("My mum Margaret O'Brien is 78 and on Rebif", "My mum [name] is 78 and on Rebif"),
    ("Oliver's bladder is better since the oxybutynin", "[name]'s bladder is better since the oxybutynin"),
    ("Thanks Rachel, the leaflet about Tysabri was useful", "Thanks [name], the leaflet about Tysabri was useful"),
    ("My sister Hope was diagnosed on Friday", "My sister [name] was diagnosed on Friday"),
    ("My wife May has PPMS", "My wife [name] has PPMS"),
    ("Grace has been on Kesimpta for a year", "[name] has been on Kesimpta for a year"),
    ("my wife grace has been on copaxone for six years", "my wife [name] has been on copaxone for six years"),
    ("hi im priya, my neuro said the lesions are stable", "hi im [name], my neuro said the lesions are stable"),
    ("my husband peter has ms and his balance is worse", "my husband [name] has ms and his balance is worse"),
    ("my girlfriend emma watson has had tremors since christmas", "my girlfriend [name] has had tremors since christmas"),
    ("my neurologist dr ferguson said copaxone is safe", "my neurologist dr [name] said copaxone is safe"),
    ("hi, my name is will and i have rrms", "hi, my name is [name] and i have rrms"),
    ("Ms Patel my MS nurse is lovely", "Ms [name] my MS nurse is lovely"),
    ("My doctor, Dr. van der Berg, moved away", "My doctor, Dr. [name], moved away"),
]

# words that are never taken for a name, however they are written
KEPT = [
    "Is Tysabri better than Ocrevus, Kesimpta or Betaseron?",
    "Copaxone, Mavenclad, Lemtrada, Gilenya, Tecfidera and Aubagio: which has the fewest side effects?",
    "Numb legs since Tuesday, and worse again in May and June",
    "I start Ocrevus in April and my next MRI is on a Friday in August",
    "My neurologist and the MS nurse both said to rest",
    "The Dr said my EDSS is stable",
    "Will it help? I hope so, and I have faith in my neurologist",
    "May I ask whether the grace period applies to the bill?",
    "Mark my words, the heat is what triggers my relapses",
    "I will mark the dates in a diary, my rose bush can wait",
    "We drove to Chester on Saturday and my walking was awful",
    "I live in Lincoln, near the Queen Elizabeth Hospital",
    "I was seen at St Mary's Hospital and then at the Walton Centre",
    "Is Lhermitte's sign or Uhthoff's phenomenon a relapse?",
    "The McDonald criteria were used for my diagnosis",
    "I'm British and was diagnosed in Germany",
    "Heat makes my symptoms worse",
    "Joy is hard to find when fatigue is this bad",
    "My MS Nurse Specialist said to rest",
    "Can I travel to Sydney or Florence with my Copaxone?",
    "Question About Tysabri And Fatigue",
]


@pytest.mark.parametrize("message,expected", NAMES, ids=[m[:40] for m, _ in NAMES])
def test_names_are_replaced(message, expected):
    assert redact(message) == expected


@pytest.mark.parametrize("message", KEPT, ids=[m[:40] for m in KEPT])
def test_medicines_dates_titles_places_and_word_names_are_kept(message):
    assert redact(message) == message


def test_names_are_reported_and_their_words_leave_the_steps():
    message = "I'm Niamh Kelly and my husband Tom injects my Copaxone"
    text, found = redact_found(message)
    assert text == "I'm [name] and my husband [name] injects my Copaxone"
    assert [(f.kind, f.text) for f in found] == [("[name]", "Niamh Kelly"), ("[name]", "Tom")]
    steps = [{"step": "scope", "unknown_words": ["niamh", "kelly", "tom", "copaxone"]}]
    assert scrub(steps, found) == [{"step": "scope", "unknown_words": ["[name]", "[name]", "[name]", "copaxone"]}]
    assert scrub_text("niamh kelly copaxone", found) == "[name] [name] copaxone"


def test_a_name_echoed_in_an_answer_goes_as_a_whole_word_only():
    _, found = redact_found("My husband Mark has new lesions")
    assert echo_scrub("Mark, new lesions are common. Markers in the blood can help.", found) == \
        "[name], new lesions are common. Markers in the blood can help."


def test_a_name_inside_an_email_address_goes_with_the_address():
    text, found = redact_found("I'm Jane (jane.doe@example.com)")
    assert text == "I'm [name] ([email])"
    assert [f.kind for f in found] == ["[email]", "[name]"]


def test_name_redaction_is_idempotent_and_fast():
    messages = [m for m, _ in NAMES] + KEPT
    once = [redact(m) for m in messages]
    assert [redact(m) for m in once] == once
    assert name_spans("") == [] and name_spans("12 3") == []
    start = time.perf_counter()
    for _ in range(5):
        for m in messages:
            redact(m)
    per_message = (time.perf_counter() - start) / (5 * len(messages))
    assert per_message < 0.002, f"{1e6 * per_message:.0f} µs per message"


def test_the_redaction_eval_command_runs_on_a_small_file(tmp_path):
    from typer.testing import CliRunner

    from msassistant.cli import app

    rows = [{"id": "a", "text": "My wife Sarah has MS", "names": [{"start": 8, "end": 13, "text": "Sarah"}],
             "clinical": [{"start": 18, "end": 20, "text": "MS"}]},
            {"id": "b", "text": "Numb since Tuesday on Tysabri", "names": [],
             "clinical": [{"start": 22, "end": 29, "text": "Tysabri"}]},
            {"id": "c", "text": "Tunde injects my Copaxone", "names": [{"start": 0, "end": 5, "text": "Tunde"}]}]
    cases = tmp_path / "names.jsonl"
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "redaction", str(cases), "--misses"])
    assert result.exit_code == 0, result.output
    assert "name recall: 50.0% (1/2 name words" in result.output
    assert "false redactions: 0.00% (0/" in result.output and "clinical word redacted: 0" in result.output
    assert "µs per message" in result.output and "- c [missed: Tunde]" in result.output
    result = CliRunner().invoke(app, ["eval", "redaction", str(cases), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["name_recall"] == 0.5 and figures["false_redactions"] == 0 and figures["messages"] == 3
    cases.write_text('{"text": "My wife Sarah", "names": [{"start": 8, "end": 99}]}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "redaction", str(cases)])
    assert result.exit_code == 1 and "names.jsonl:1" in result.output

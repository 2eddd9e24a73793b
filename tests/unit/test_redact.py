"""Redaction of personal details in patient and caregiver messages, and what it must leave alone."""

from __future__ import annotations

import pytest

from msassistant.store.redact import echo_scrub, redact, redact_found, scrub, scrub_text

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
    "I saw Dr Smith at 10.30 on 5 May",
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

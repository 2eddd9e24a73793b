"""The command line: ingest with progress, ask --json, clear errors."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CORPUS


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    return {**os.environ, "MSA_HOME": str(home), "MSA_CORPUS_DIR": str(CORPUS)}


def run(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "msassistant.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_ingest_then_ask_json(cli_env):
    first = run(cli_env, "ingest")
    assert first.returncode == 0, first.stderr
    assert "5 added" in first.stdout and "Embedding documents" in first.stderr  # progress bar
    second = run(cli_env, "ingest", "--quiet")
    assert "5 unchanged" in second.stdout and "0 chunks embedded" in second.stdout

    asked = run(cli_env, "ask", "What is siponimod used for?", "--json")
    assert asked.returncode == 0, asked.stderr
    body = json.loads(asked.stdout)
    assert body["category"] == "answer" and any("siponimod" in c["passage"] for c in body["citations"])
    follow = run(cli_env, "ask", "Is it a pill?", "--json", "--session", body["session_id"])
    assert json.loads(follow.stdout)["session_id"] == body["session_id"]

    plain = run(cli_env, "ask", "What is siponimod used for?")
    assert "[1]" in plain.stdout and "Sources:" in plain.stdout


def test_ask_rejects_empty_question(cli_env):
    result = run(cli_env, "ask", "   ")
    assert result.returncode == 1 and "empty" in result.stderr


def test_bad_model_setting_is_clear(cli_env, tmp_path):
    env = {**cli_env, "MSA_HOME": str(tmp_path), "MSA_EMBEDDING_MODEL": str(tmp_path / "no-such-model")}
    result = run(env, "ingest", "--quiet")
    assert result.returncode == 1 and "MSA_EMBEDDING_MODEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_triage_prints_recall_false_alarms_and_the_confusion_table(cli_env, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in [
        {"text": "I want to kill myself", "level": "crisis"},
        {"text": "What does the EDSS score measure?", "level": None},
        {"id": "x", "turns": ["since this morning I cannot see out of my left eye"], "category": "urgent"},
    ]) + "\n")
    done = run(cli_env, "eval", "triage", str(cases))
    assert done.returncode == 0, done.stderr
    assert "| crisis | 1/1 | 100.0% |" in done.stdout and "| any | 1/1 | 100.0% |" in done.stdout
    assert "false alarms | 0/1 | 0.0% |" in done.stdout and "| truth \\ triage |" in done.stdout
    missing = run(cli_env, "eval", "triage", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 1 and "error:" in missing.stderr and "Traceback" not in missing.stderr


def test_eval_cases_runs_in_process_and_reports_per_file(cli_env, tmp_path):
    cases = tmp_path / "mine.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in [
        {"id": "a", "turns": ["How often was the intrathecal methotrexate given in the study?"], "category": "answer",
         "sources": ["000_020e82a42c733ae6.txt"], "phrases": ["every three months"], "expect_any": ["methotrexate"]},
        {"id": "b", "turns": ["how much does a tysabri infusion cost"], "category": "no_coverage"},
        {"id": "c", "turns": ["give me a recipe for lasagne"], "category": "out_of_scope"},
        {"id": "d", "turns": ["What did the azathioprine review find?", "did it help people walk better?"],
         "category": "answer", "sources": ["002_5bd68b2e9fd4fbfd.txt"], "phrases": ["azathioprine"]},
        {"id": "e", "turns": ["q"], "sources": ["001_fa889e840cef5881.txt"], "phrases": ["no passage says this"]},
    ]) + "\n")
    done = run(cli_env, "eval", "cases", str(cases), "--json", "-q", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "no passage of" in done.stderr  # a gold phrase the corpus never holds is named
    figures = json.loads(done.stdout)["all"]
    assert figures["category"] == {"n": 4, "of": 4, "pct": 100.0}
    assert figures["hit@3"]["n"] == 2 and figures["follow_up_hit@3"] == {"n": 1, "of": 1, "pct": 100.0}
    assert figures["key_fact"]["n"] == 1 and figures["unanswerable_answered"]["n"] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"turns": "not a list"}\n')
    failed = run(cli_env, "eval", "cases", str(bad))
    assert failed.returncode == 1 and "bad.jsonl:1" in failed.stderr and "Traceback" not in failed.stderr


def test_vocabulary_gaps_lists_corpus_words_no_lay_name_reaches(cli_env):
    done = run(cli_env, "vocabulary", "gaps", "--json", "--everyday", "6")
    assert done.returncode == 0, done.stderr
    words = {row["word"] for row in json.loads(done.stdout)}
    assert words and "natalizumab" not in words  # a drug: its brand names reach it


def test_chat_keeps_the_conversation_and_shows_sources_and_notices(cli_env):
    r = subprocess.run([sys.executable, "-m", "msassistant.cli", "chat"], env=cli_env, capture_output=True, text=True,
                       timeout=300, input="What are the side effects of fingolimod?\nand is it a pill?\n\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("you> ") == 3 and r.stdout.count("Sources:") == 2
    assert r.stdout.count("Talk with your MS care team") == 2 and "bradycardia" in r.stdout
    assert "session: " in r.stderr and "--session" in r.stderr


def test_reviewed_list_reads_the_review_loop(cli_env):
    r = run(cli_env, "reviewed", "list", "--all")
    assert r.returncode == 0, r.stderr
    assert "No reviewed answers yet." in r.stdout


def test_eval_paraphrases_prints_the_threshold_table(cli_env, tmp_path):
    cases = tmp_path / "para.jsonl"
    rows = [("What are the side effects of azathioprine?", "serious side effects"),
            ("azathioprine side effects?", "serious side effects"),
            ("How often was intrathecal methotrexate given?", "every three months"),
            ("how often do you get the methotrexate into the spine", "every three months")]
    cases.write_text("\n".join(json.dumps({"id": f"p{i}", "turns": [q], "sources": ["x.txt"], "phrases": [p]})
                               for i, (q, p) in enumerate(rows)), encoding="utf-8")
    r = run(cli_env, "eval", "paraphrases", str(cases))
    assert r.returncode == 0, r.stderr
    assert "4 questions, 2 paraphrase pairs, 4 other pairs" in r.stdout and "| 0.90 |" in r.stdout
    assert "MSA_REVIEWED_SIMILARITY" in r.stdout


def test_export_writes_the_log_with_the_console_filters(cli_env, tmp_path):
    run(cli_env, "ask", "What is siponimod used for?")
    out = tmp_path / "turns.csv"
    r = run(cli_env, "export", "--format", "csv", "--out", str(out), "--category", "answer")
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith("\ufeff".encode()) and b"siponimod" in data
    lines = run(cli_env, "export", "--format", "jsonl", "--category", "answer")
    assert lines.returncode == 0 and all(json.loads(line)["category"] == "answer" for line in lines.stdout.splitlines())
    bad = run(cli_env, "export", "--category", "nonsense")
    assert bad.returncode == 1 and "Category: choose one of" in bad.stderr and "Traceback" not in bad.stderr


def test_a_bad_setting_is_one_clear_line(cli_env):
    r = run({**cli_env, "MSA_RETRIEVAL_MODE": "bogus"}, "ask", "What is MS?")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: bad setting: MSA_RETRIEVAL_MODE='bogus': Input should be 'hybrid', 'dense' or 'bm25'"]


def test_a_skipped_corpus_file_is_warned_about_once(cli_env, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "009_bad.txt").write_bytes(b"bad \xff byte")
    r = run({**cli_env, "MSA_HOME": str(tmp_path / "home"), "MSA_CORPUS_DIR": str(corpus)}, "ingest", "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("009_bad.txt") == 1 and "not valid UTF-8" in r.stderr
    assert "1 skipped" in r.stdout

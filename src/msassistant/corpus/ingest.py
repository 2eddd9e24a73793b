"""Ingest: read corpus files, strip scraped-page boilerplate, attach metadata, chunk by paragraph and sentence.

The output is a list of LangChain `Document`s, one per chunk, ready to embed. Nothing here touches the index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from . import credibility, roles
from ..text import fold, normalise_breaks, split_sentences

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.toml"
TEXT_SUFFIXES = {".txt", ".md"}

# ---- boilerplate of the scraped pages -------------------------------------------------------
DATE_LINE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
TEASER_HEADINGS = {"you may also like", "related articles", "read more"}
READ_MORE = re.compile(r"Read More", re.I)
# Paragraphs of the site-wide "Understanding MS Research" footer, recognised by how they open.
FOOTER_HEADINGS = {"understanding ms research"}
FOOTER_OPENINGS = (
    "whether you've recently been diagnosed",
    "however, not all research is created equal",
    "by presenting a wide range of ms-focused studies",
)
# Labels of the page's rating widgets, which carry no text of their own.
WIDGET_LABELS = {"credibility", "interest"}
JOURNAL = re.compile(r"journals like (?P<journal>.+?)(?:\.\s+\w+)?\s+often range", re.I)

# ---- chunk sizes (characters) ----------------------------------------------------------------
SHORT_PARAGRAPH = 200
MAX_CHUNK = 700


class UnreadableDocument(ValueError):
    """A corpus file that is not UTF-8 text."""


@dataclass
class CleanDocument:
    source: str
    title: str
    kind: str
    journal: str | None
    credibility: str
    promotional: bool
    paragraphs: list[tuple[str, str]]  # (section heading, paragraph text)
    content_hash: str
    extra: dict = field(default_factory=dict)


def _page_text(text: str) -> str:
    """The page's text with its "Read More" links and glued FAQ questions on lines of their own."""
    text = READ_MORE.sub("\nRead More\n", normalise_breaks(text))
    # FAQ-style pages glue a question to its answer: "...in MS?Physical therapy can..."
    text = re.sub(r"\?(?=[A-Z])", "?\n", text)
    return text


def _is_heading(line: str) -> bool:
    return len(line) <= 60 and len(line.split()) <= 8 and not line.rstrip().endswith((".", ":", ";", ","))


def _is_headline(line: str) -> bool:
    """A teaser's headline: short and not a sentence."""
    return len(line) <= 120 and not line.rstrip().endswith((".", ":", ";", ","))


def strip_boilerplate(text: str) -> tuple[list[str], str | None]:
    """Return the content lines of a scraped page and the journal its footer names, if any."""
    lines = [ln.strip() for ln in _page_text(text).split("\n")]
    lines = [ln for ln in lines if ln]
    journal = None
    drop = set()
    for i, line in enumerate(lines):
        folded = fold(line)
        if folded in TEASER_HEADINGS or folded in FOOTER_HEADINGS:
            drop.add(i)
        elif folded.startswith(FOOTER_OPENINGS):
            drop.add(i)
            match = JOURNAL.search(line)
            if match and journal is None:
                journal = match.group("journal").strip()
        elif DATE_LINE.match(line):
            drop.add(i)
            # the teaser's excerpt follows the date, its headline (often printed twice) precedes it
            if i + 1 < len(lines) and not DATE_LINE.match(lines[i + 1]):
                drop.add(i + 1)
            j = i - 1
            while j >= 0 and j not in drop and _is_headline(lines[j]):
                drop.add(j)
                j -= 1
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i in drop or fold(line) in WIDGET_LABELS:
            continue
        if kept and fold(kept[-1]) == fold(line):  # duplicated title lines
            continue
        kept.append(line)
    return kept, journal


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise UnreadableDocument(f"{path.name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"{path.name}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def load_catalog(corpus_dir: Path) -> dict[str, dict]:
    path = corpus_dir / CATALOG_FILE
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc


def corpus_files(corpus_dir: Path) -> list[Path]:
    # by name: one folder, so the same order as sorting the paths, without comparing Path objects;
    # scandir knows each entry's type without a stat call per file
    with os.scandir(corpus_dir) as entries:
        names = sorted(e.name for e in entries if os.path.splitext(e.name)[1].lower() in TEXT_SUFFIXES and e.is_file())
    return [corpus_dir / name for name in names]


# Part of every document's content hash: change it when what is embedded for a chunk changes
# (index.store.embedding_text), so that every document is embedded again at the next ingest.
EMBEDDED_AS = "2: title, section and text"


def content_hash(text: str, entry: dict | None) -> str:
    """What decides whether a document must be re-embedded: its text, its catalog entry and the rules."""
    return hashlib.sha256(
        (text + json.dumps(entry or {}, sort_keys=True, default=str) + credibility.RULES_VERSION + EMBEDDED_AS
         + roles.version()).encode()
    ).hexdigest()


def clean_document(source: str, text: str, entry: dict | None = None) -> CleanDocument:
    entry = entry or {}
    lines, journal = strip_boilerplate(text)
    journal = entry.get("journal") or journal
    title = entry.get("title")
    if lines and not title and len(lines[0]) <= 150:
        title = lines[0]
    if lines and lines[0] == title and not title.endswith("."):
        lines = lines[1:]  # a headline, not a sentence of the text
    title = title or Path(source).stem
    kind = entry.get("kind", "research summary")
    body = "\n".join(lines)
    label, promotional = credibility.assess(body, kind=kind, journal=journal, study=entry.get("study"))
    paragraphs: list[tuple[str, str]] = []
    section = ""
    headline = None  # an opening one-sentence paragraph: the page's headline or key takeaway
    for line in lines:
        if _is_heading(line) and line != title:
            section = line
            continue
        if not paragraphs and len(split_sentences(line)) == 1:
            headline = line
        paragraphs.append((section, line))
    if len(paragraphs) < 2:
        headline = None  # a document of one paragraph has no headline: it is all text
    return CleanDocument(source, title, kind, journal, label, promotional, paragraphs, content_hash(text, entry),
                         extra={k: v for k, v in (("headline", headline), ("lead", entry.get("lead")),
                                                  ("promotes", entry.get("promotes"))) if v})


def _move_trailing_questions(paragraphs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A question closing a paragraph usually opens the next one (FAQ pages); move it there."""
    out: list[tuple[str, str]] = []
    carry = ""
    for section, text in paragraphs:
        if carry:
            text = f"{carry} {text}"
            carry = ""
        sentences = split_sentences(text)
        if len(sentences) > 1 and sentences[-1].endswith("?"):
            carry = sentences[-1]
            text = " ".join(sentences[:-1])
        out.append((section, text))
    if carry:
        out.append((out[-1][0] if out else "", carry))
    return out


def chunk_paragraphs(paragraphs: list[tuple[str, str]], max_chars: int = MAX_CHUNK) -> list[tuple[str, str]]:
    """Chunks of whole sentences: a paragraph each, short ones merged, long ones split at sentences."""
    pieces: list[tuple[str, str]] = []
    for section, text in _move_trailing_questions(paragraphs):
        if len(text) <= max_chars:
            pieces.append((section, text))
            continue
        current = ""
        for sentence in split_sentences(text):
            if current and len(current) + 1 + len(sentence) > max_chars:
                pieces.append((section, current))
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            pieces.append((section, current))
    chunks: list[tuple[str, str]] = []
    for section, text in pieces:
        if (
            chunks
            and chunks[-1][0] == section
            and len(chunks[-1][1]) < SHORT_PARAGRAPH
            and len(chunks[-1][1]) + 1 + len(text) <= max_chars
        ):
            chunks[-1] = (section, f"{chunks[-1][1]} {text}")
        else:
            chunks.append((section, text))
    return chunks


def to_documents(doc: CleanDocument) -> list[Document]:
    documents = []
    for i, (section, text) in enumerate(chunk_paragraphs(doc.paragraphs)):
        metadata = {
            "source": doc.source,
            "chunk": i,
            "chunk_id": f"{doc.source}#{i}",
            "title": doc.title,
            "section": section,
            "kind": doc.kind,
            "journal": doc.journal or "",
            "credibility": doc.credibility,
            "promotional": doc.promotional,
            "doc_hash": doc.content_hash,
            "lead": doc.extra.get("lead", ""),
            "promotes": " | ".join(doc.extra.get("promotes", [])),
            # what each sentence is for (corpus/roles.py): answers show only facts
            "roles": roles.encode(roles.mark(split_sentences(text), section=section, headline=doc.extra.get("headline"))),
        }
        documents.append(Document(page_content=text, metadata=metadata, id=metadata["chunk_id"]))
    return documents


@dataclass
class SourceDocument:
    """A corpus file read and hashed but not yet cleaned: an unchanged document never needs cleaning."""

    source: str
    text: str
    entry: dict | None
    content_hash: str

    def clean(self) -> CleanDocument:
        return clean_document(self.source, self.text, self.entry)


class SkippedFile(str):
    """A corpus file that could not be read, as "<file name>: <why>"; `source` is the file name."""

    source: str

    def __new__(cls, source: str, reason: str) -> "SkippedFile":
        text = super().__new__(cls, f"{source}: {reason}")
        text.source = source
        return text


def read_corpus(corpus_dir: Path, warn: bool = True) -> tuple[list[SourceDocument], list[SkippedFile]]:
    """Read and hash every readable document; unreadable ones are skipped (with a warning, when `warn`)
    and reported. An empty file counts as unreadable: a document is taken out by deleting its file."""
    catalog = load_catalog(corpus_dir)
    docs, skipped = [], []
    for path in corpus_files(corpus_dir):
        problem = None
        try:
            text = read_text(path)
        except UnreadableDocument as exc:
            problem = SkippedFile(path.name, str(exc).removeprefix(f"{path.name}: "))
        except OSError as exc:
            problem = SkippedFile(path.name, f"cannot be read ({exc.strerror or exc})")
        else:
            if not text.strip():
                problem = SkippedFile(path.name, "empty file")
        if problem is not None:
            if warn:
                log.warning("skipped %s", problem)
            skipped.append(problem)
            continue
        entry = catalog.get(path.name)
        docs.append(SourceDocument(path.name, text, entry, content_hash(text, entry)))
    return docs, skipped


def load_corpus(corpus_dir: Path) -> tuple[list[CleanDocument], list[str]]:
    """Clean every readable document; unreadable ones are skipped with a warning and reported."""
    docs, skipped = read_corpus(corpus_dir)
    return [d.clean() for d in docs], skipped

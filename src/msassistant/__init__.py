"""msassistant: answers questions about multiple sclerosis from a reviewed corpus, with cited passages."""

__version__ = "0.1.0"

"""trainbot: a Telegram chat-ops bot that trains Keras regression models from CSV files."""

__version__ = "0.1.0"

"""The Telegram bot: the only part of trainbot that talks to Telegram.

It stays light (it never imports TensorFlow or Keras): it checks and stores what users send,
queues jobs, and delivers what the worker leaves in the outbox. `bot.app` builds and runs it.
"""

"""The update handlers, one module per subject; `bot.app` registers them all in one place."""

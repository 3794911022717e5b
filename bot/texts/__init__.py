"""Every chat message the bot sends, in one voice: short, friendly, first person, no internals.

One module per feature; the trainer's facts (verdicts, column notes, warnings) come in the
words of trainer.words. `texts.NAME` reaches any of them. Messages use Telegram's HTML mode, so
anything that comes from users or files (column names, file names, error sentences) goes
through `bot.formatting.esc`.
"""

from bot.texts.general import *  # noqa: F403
from bot.texts.jobs import *  # noqa: F403
from bot.texts.models import *  # noqa: F403
from bot.texts.predict import *  # noqa: F403
from bot.texts.reading import *  # noqa: F403
from bot.texts.train import *  # noqa: F403
from bot.texts.uploads import *  # noqa: F403

"""What the bot says about itself: greeting, help, the command menu, refusals and its own
failures (a reply it could not send)."""

from __future__ import annotations

from bot.formatting import esc
from trainer.words import size

__all__ = [
    "COMMANDS",
    "NOT_ALLOWED_SHORT",
    "SEND_A_CSV",
    "SOMETHING_WENT_WRONG",
    "START",
    "TRAIN_EXAMPLE",
    "UNDELIVERED_WHAT",
    "help_text",
    "limits_line",
    "not_allowed",
    "not_delivered",
    "unknown_command",
]

TRAIN_EXAMPLE = "/train epochs=300 lr=0.01 x=temp y=sales predict=200,300"

# The menu Telegram shows next to the text field (set_my_commands), in the order of /help.
COMMANDS: dict[str, str] = {
    "train": "Train a model on a CSV (caption, reply, or send it next)",
    "predict": "Predict with the active model: /predict 200",
    "status": "How a job is doing: /status 12",
    "jobs": "This chat's recent jobs",
    "cancel": "Stop a job: /cancel 12",
    "models": "This chat's models",
    "use": "Pick the model /predict uses: /use v2",
    "delete": "Delete a model: /delete v2",
    "download": "Download a model as a .keras file",
    "help": "What I can do",
    "start": "Say hello",
}

START = (
    "Hi! I train small neural networks on your numbers.\n\n"
    "Send me a CSV or Excel file with the caption <b>/train</b>: columns <code>x</code> and "
    "<code>y</code>, or any columns where the last one is the number to predict. I'll fit a "
    "model, plot it "
    "and tell you how good it is. Then <b>/predict 200</b> asks it for a value.\n\n"
    "/help lists everything."
)


def limits_line(
    max_upload_bytes: int,
    max_jobs: int,
    trainings_per_hour: int,
    max_bytes_per_chat: int,
    keep_uploads_days: float,
) -> str:
    """What /help says a user may do at most, and how long the bot keeps their files."""
    parts = [f"at most {max_jobs} unfinished jobs per chat"]
    if trainings_per_hour:
        parts.append(f"{trainings_per_hour} trainings an hour per person")
    if max_bytes_per_chat:
        parts.append(f"{size(max_bytes_per_chat)} of uploads, models and plots per chat")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    line = f"Files up to {size(max_upload_bytes)}; {listed}."
    if keep_uploads_days:
        line += f" I delete uploaded files after {keep_uploads_days:g} days."
    return line


def help_text(limits: str) -> str:
    commands = "\n".join(f"/{name} – {esc(text)}" for name, text in COMMANDS.items())
    return (
        "<b>Training</b>\n"
        "Send a CSV or .xlsx file with the caption /train, reply /train to it, send /train "
        "and then the file, or the file and then /train. A file with no caption gets a button. "
        "A .zip or .gz of the table works too (not a photo of it). Text, category and date "
        "columns, gaps, and numbers like 1,234.5, $1,200 or 12% are fine: I say what I did "
        "with each column.\n"
        "Options go after /train:\n"
        "<code>epochs=300</code> <code>lr=0.01</code> <code>batch=32</code> "
        "<code>optimizer=adam</code> <code>val=0.2</code> <code>seed=1</code>\n"
        "<code>x=temp,hum y=sales</code> choose the columns\n"
        "<code>predict=200,300</code> values to predict once trained\n"
        "<code>sheet=Data</code> which sheet of an .xlsx file (the first by default)\n"
        "<code>preset=tutorial</code> the original tutorial's recipe\n"
        "<code>task=classification</code> or <code>task=regression</code>: a text or yes/no "
        "(two-valued) target trains a classifier, other numbers a regressor, unless you say\n"
        f"Example: <code>{esc(TRAIN_EXAMPLE)}</code>\n\n"
        "<b>Predicting</b>\n"
        "/predict 200 or /predict 1 2 3.5 (inputs in column order), or by name: "
        "<code>/predict age=50 region=north</code> (any case; inputs left out are filled as in "
        "training, and I say so). A CSV or .xlsx with the caption /predict gets a CSV of "
        "predictions back.\n\n"
        "<b>Commands</b>\n"
        f"{commands}\n\n"
        f"{limits}"
    )


def unknown_command(command: str) -> str:
    return f"I don't know /{esc(command)}. /help lists what I can do."


NOT_ALLOWED_SHORT = "Sorry, this bot is private."


def not_allowed(user_id: int | None) -> str:
    who = f" (your user id is <code>{user_id}</code>)" if user_id is not None else ""
    return (
        f"Sorry, this bot is private. If you should have access, ask whoever runs it to add "
        f"you{who}."
    )


SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side. Please try again in a minute."
SEND_A_CSV = "Send me a CSV file to train on, or /help to see what I can do."

# What each outbox message is, for the sentence that says it could not be sent.
UNDELIVERED_WHAT = {
    "train_summary": "the training summary",
    "train_plot": "the plot",
    "predictions": "the predictions",
    "predictions_csv": "the predictions file",
    "job_failed": "the failure notice",
    "job_cancelled": "the cancellation notice",
}


def not_delivered(kind: str, job_id: int | None, *, too_large: bool) -> str:
    what = UNDELIVERED_WHAT.get(kind, "a message")
    of_job = f" of job {job_id}" if job_id is not None else ""
    why = "it is larger than Telegram accepts" if too_large else "Telegram kept refusing it"
    return f"⚠️ Sorry, I couldn't send you {what}{of_job}: {why}."

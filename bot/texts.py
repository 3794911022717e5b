"""Every sentence the bot says, in one voice: short, friendly, first person, no internals.

Messages use Telegram's HTML mode, so anything that comes from users or files (column names,
file names, error sentences) goes through `esc`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from telegram.constants import MessageLimit

from trainer.columns import ColumnPlan

# Telegram's limits on one message's text and on a media caption.
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)
MAX_CAPTION = int(MessageLimit.CAPTION_LENGTH)
ELLIPSIS = "…"

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


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def num(value: float | None, digits: int = 6) -> str:
    """A number as people read it: 93.3333, 0.00123, 1.5e+07; a dash when missing."""
    if value is None:
        return "–"
    return f"{value:.{digits}g}"


def names(items: Sequence[str], limit: int = 5) -> str:
    """Column names joined for a sentence, shortened when there are many."""
    shown = ", ".join(esc(n) for n in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


# One piece of HTML that must not be cut: a tag, a character reference, or one character.
_HTML_PIECE = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.", re.DOTALL)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Cut HTML text to `limit` (UTF-16 units, as Telegram counts), ending in "…".

    Never inside a tag or a character reference, and every tag still open at the cut is closed,
    so Telegram can parse the result (a table's <pre> that spans many lines stays whole). The
    cut goes at the last line break when that keeps at least half of what fits. Telegram
    counts the text without its tags: measuring with them keeps well inside its limit.
    """
    if utf16_len(text) <= limit:
        return text
    open_tags: list[str] = []
    used = 0
    cut = 0
    cut_tags: list[str] = []
    line_cut: tuple[int, list[str]] | None = None
    for piece in _HTML_PIECE.finditer(text):
        token = piece[0]
        tags = open_tags
        tag = _TAG.match(token) if token.startswith("<") and len(token) > 1 else None
        if tag is not None:
            closing, name = tag[1] == "/", tag[2].lower()
            if closing and name in open_tags:
                tags = open_tags[: len(open_tags) - 1 - open_tags[::-1].index(name)]
            elif not closing:
                tags = [*open_tags, name]
        closers = sum(len(name) + 3 for name in tags)
        if used + utf16_len(token) + closers + len(ELLIPSIS) + 1 > limit:
            break
        used += utf16_len(token)
        open_tags = tags
        if token == "\n":
            line_cut = (piece.start(), list(open_tags))
        cut, cut_tags = piece.end(), list(open_tags)
    if line_cut is not None and line_cut[0] >= cut // 2:
        cut, cut_tags = line_cut[0], line_cut[1]
        kept = text[:cut] + "\n" + ELLIPSIS
    else:
        kept = text[:cut] + ELLIPSIS
    return kept + "".join(f"</{name}>" for name in reversed(cut_tags))


def plain(text: str) -> str:
    """HTML text as plain text: tags dropped, character references turned back into characters.

    For resending a message that Telegram refused to parse, with no parse mode.
    """
    return html.unescape(re.sub(r"<[^<>]*>", "", text))


# -- general -------------------------------------------------------------------------------

START = (
    "Hi! I train small neural networks on your numbers.\n\n"
    "Send me a CSV or Excel file with the caption <b>/train</b>: columns <code>x</code> and "
    "<code>y</code>, or any columns where the last one is the number to predict. I'll fit a "
    "model, plot it "
    "and tell you how good it is. Then <b>/predict 200</b> asks it for a value.\n\n"
    "/help lists everything."
)


def help_text(max_upload_bytes: int, max_jobs: int) -> str:
    commands = "\n".join(f"/{name} – {esc(text)}" for name, text in COMMANDS.items())
    return (
        "<b>Training</b>\n"
        "Send a CSV or .xlsx file with the caption /train, reply /train to it, or send /train "
        "and then the file. A file with no caption gets a button. Text, category and date "
        "columns, gaps, and numbers like 1,234.5, $1,200 or 12% are fine: I say what I did "
        "with each column.\n"
        "Options go after /train:\n"
        "<code>epochs=300</code> <code>lr=0.01</code> <code>batch=32</code> "
        "<code>optimizer=adam</code> <code>val=0.2</code> <code>seed=1</code>\n"
        "<code>x=temp,hum y=sales</code> choose the columns\n"
        "<code>predict=200,300</code> values to predict once trained\n"
        "<code>sheet=Data</code> which sheet of an .xlsx file (the first by default)\n"
        "<code>preset=tutorial</code> the original tutorial's recipe\n"
        f"Example: <code>{esc(TRAIN_EXAMPLE)}</code>\n\n"
        "<b>Predicting</b>\n"
        "/predict 200 or /predict 1 2 3.5 (inputs in column order), or by name: "
        "<code>/predict age=50 region=north</code> (any case; inputs left out are filled as in "
        "training, and I say so). A CSV or .xlsx with the caption /predict gets a CSV of "
        "predictions back.\n\n"
        "<b>Commands</b>\n"
        f"{commands}\n\n"
        f"Files up to {size(max_upload_bytes)}; at most {max_jobs} unfinished jobs per chat."
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


def size(n_bytes: int) -> str:
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} MB"
    if n_bytes >= 1_000:
        return f"{n_bytes / 1_000:.0f} kB"
    return f"{n_bytes} bytes"


# -- uploads -------------------------------------------------------------------------------


def too_big(file_size: int, limit: int) -> str:
    return f"That file is {size(file_size)}; the most I can take is {size(limit)}."


def too_big_for_telegram(file_size: int, limit: int) -> str:
    return (
        f"That file is {size(file_size)}, and Telegram lets bots download at most "
        f"{size(limit)}. Please send a smaller file."
    )


def not_csv(filename: str | None) -> str:
    name = f"<b>{esc(filename)}</b>" if filename else "That file"
    return f"{name} isn't a CSV file. I read .csv, .tsv and .txt tables, and .xlsx workbooks."


SPREADSHEET = (
    "I can't read that kind of spreadsheet. Save it as .xlsx or CSV (File → Save as) and send "
    "me that."
)
DOWNLOAD_FAILED = "I couldn't fetch that file from Telegram. Please send it again."


def quota_reached(unfinished: int) -> str:
    return (
        f"This chat already has {unfinished} unfinished jobs. Wait for one to finish, or "
        "stop one with /cancel (see /jobs)."
    )


def bad_csv(sentence: str) -> str:
    return f"I can't use that file: {esc(sentence)}"


def bad_params(sentence: str) -> str:
    return f"{esc(sentence)}\nFor example: <code>{esc(TRAIN_EXAMPLE)}</code>"


def send_csv_now(minutes: float, *, group: bool) -> str:
    # In groups the bot sees only commands and replies to itself (privacy mode).
    how = "reply to this message with the CSV file" if group else "send me the CSV file"
    return f"OK – now {how} (within {minutes:g} minutes) and I'll train on it."


def offer_training(filename: str | None) -> str:
    name = f"<b>{esc(filename)}</b>" if filename else "this file"
    return f"Shall I train a model on {name}?"


BUTTON_TRAIN = "Train on this file"
BUTTON_PREDICT = "Predict with model v{version}"
FILE_GONE = "I can't find that file any more. Please send it again."
ALREADY_STARTED = "Already on it."


def position_phrase(position: int | None) -> str:
    if position is None:
        return "starting now"
    if position == 1:
        return "next in line"
    return f"number {position} in line"


def train_queued(
    job_id: int, position: int | None, n_rows: int, features: Sequence[str], target: str
) -> str:
    return (
        f"📥 Job {job_id}: {n_rows:,} rows, {esc(target)} from {names(features)}.\n"
        f"Queued, {position_phrase(position)}. I'll keep this message up to date."
    )


def predict_csv_queued(job_id: int, position: int | None, version: int, filename: str) -> str:
    return (
        f"📥 Job {job_id}: predicting <b>{esc(filename)}</b> with model v{version}; "
        f"{position_phrase(position)}. The results come back as a CSV file."
    )


# -- predictions ---------------------------------------------------------------------------

NO_MODEL = (
    "This chat has no model yet. Send a CSV with the caption /train to train one, "
    "or pick one with /use (see /models)."
)


def predict_rate_limited(limit: int, window: float, wait: float) -> str:
    return (
        f"Easy there – I answer at most {limit} /predict per chat every {duration(window)}. "
        f"Please try again in {duration(max(wait, 1.0))}."
    )


def predict_usage(features: Sequence[str], example: str | None = None) -> str:
    if len(features) > 1 and example:
        return (
            f"This model takes {len(features)} inputs ({names(features, 10)}), for example "
            f"<code>/predict {esc(example)}</code>. Inputs you leave out are filled as in "
            "training; bare values in column order work too."
        )
    if len(features) <= 1:
        return (
            "Tell me the input: <code>/predict 200</code>, "
            "or several: <code>/predict 1 2 3.5</code>."
        )
    example = " ".join(str(i + 1) for i in range(len(features)))
    return (
        f"This model takes {len(features)} inputs per prediction ({names(features, 10)}), "
        f"for example <code>/predict {example}</code>."
    )


def predict_wrong_count(features: Sequence[str], given: int) -> str:
    return (
        f"This model takes {len(features)} inputs per prediction ({names(features, 10)}), "
        f"so I need a multiple of {len(features)} values; you gave {given}."
    )


def bad_values(sentence: str, example: str = "200") -> str:
    return f"{esc(sentence)}\nFor example: <code>/predict {esc(example)}</code>"


def _shown(value: Any) -> str:
    """An input as given: numbers formatted, text (a category, a date) escaped."""
    return num(value) if isinstance(value, int | float) else esc(value)


def prediction_lines(
    predictions: Iterable[Mapping[str, Any]], features: Sequence[str], target: str
) -> list[str]:
    lines: list[str] = []
    for p in predictions:
        inputs = list(p.get("inputs") or [])
        # A prediction names its own inputs (the table's columns) when it knows them.
        labels = list(p.get("names") or features)
        if len(labels) == 1 and len(inputs) == 1:
            given = f"{esc(labels[0])} = {_shown(inputs[0])}"
        else:
            given = ", ".join(
                f"{esc(f)} = {_shown(v)}" for f, v in zip(labels, inputs, strict=False)
            )
        lines.append(f"{given} → <b>{esc(target)} = {num(p.get('value'))}</b>")
        if p.get("warning"):
            lines.append(f"   ⚠️ {esc(p['warning'])}")
    return lines


def predictions(payload: Mapping[str, Any]) -> str:
    features = list(payload.get("feature_names") or [])
    target = str(payload.get("target_name") or "y")
    version = payload.get("model_version")
    head = f"🔮 Model v{version} predicts:" if version is not None else "🔮 Predictions:"
    lines = prediction_lines(payload.get("predictions") or [], features, target)
    return clip("\n".join([head, *lines]))


def predictions_csv_caption(payload: Mapping[str, Any]) -> str:
    rows = int(payload.get("rows") or 0)
    version = payload.get("model_version")
    source = f" from model v{version}" if version is not None else ""
    notes = [f"• {esc(note)}" for note in payload.get("notes") or []]
    return clip("\n".join([f"🔮 Predictions for {rows:,} rows{source}.", *notes]), MAX_CAPTION)


def column_lines(notes: Sequence[str], limit: int = 8) -> list[str]:
    """The block saying what was done with each column that was no plain number."""
    shown = [f"• {esc(note)}" for note in notes[:limit]]
    if len(notes) > limit:
        shown.append(f"… and {len(notes) - limit} more")
    return ["", "<b>Columns</b>", *shown] if shown else []


# -- training results ----------------------------------------------------------------------


def plot_caption(payload: Mapping[str, Any]) -> str:
    features = list(payload.get("feature_names") or [])
    target = payload.get("target_name") or "y"
    return clip(
        f"📈 Model v{payload.get('model_version', '?')}: {esc(target)} from {names(features)}",
        MAX_CAPTION,
    )


_METRIC_ROWS = (("RMSE", "rmse"), ("MAE", "mae"), ("R²", "r2"))


def _metric_table(metrics: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    train = metrics.get("train") or {}
    validation = metrics.get("validation") or {}
    line_train = baseline.get("train") or {}
    line_validation = baseline.get("validation") or {}
    has_validation = bool(validation)
    header = f"{'':<10}{'train':>11}" + (f"{'held out':>12}" if has_validation else "")
    rows = [header]
    for label, key in _METRIC_ROWS:
        row = f"{label:<10}{num(train.get(key), 4):>11}"
        if has_validation:
            row += f"{num(validation.get(key), 4):>12}"
        rows.append(row)
    row = f"{'line RMSE':<10}{num(line_train.get('rmse'), 4):>11}"
    if has_validation:
        row += f"{num(line_validation.get('rmse'), 4):>12}"
    rows.append(row)
    return ["<pre>" + esc("\n".join(rows)) + "</pre>"]


def _fold_spread(validation: Mapping[str, Any]) -> str:
    """The held-out RMSE's range across folds: how much the figure depends on the split."""
    folds = [float(mse) ** 0.5 for mse in validation.get("fold_mse") or [] if mse is not None]
    if len(folds) < 2:
        return ""
    return f" Held-out RMSE per fold: {num(min(folds), 3)} to {num(max(folds), 3)}."


# The parts of a training's reply that a failed step after the fit can cost (trainer.worker).
MISSING_PARTS = {
    "plot": "the plot",
    "predictions": "the predictions you asked for",
    "details": "some of the details",
}


def missing_note(missing: Sequence[str]) -> str:
    """What the chat does not get this time, though its model is saved."""
    parts = [MISSING_PARTS.get(str(part), esc(part)) for part in missing]
    listed = parts[-1] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"⚠️ The model is saved, but I couldn't make {listed} this time."


def train_summary(payload: Mapping[str, Any]) -> str:
    features = list(payload.get("feature_names") or [])
    target = str(payload.get("target_name") or "y")
    n_rows = int(payload.get("n_rows") or 0)
    lines = [
        f"✅ <b>Model v{payload.get('model_version', '?')}</b> is ready: {esc(target)} from "
        f"{names(features)}, {n_rows:,} rows.",
        *_metric_table(payload.get("metrics") or {}, payload.get("baseline") or {}),
    ]
    if payload.get("choice"):
        lines.append(esc(payload["choice"]) + _fold_spread(payload.get("validation") or {}))
    if payload.get("verdict"):
        lines.append(esc(payload["verdict"]))
    lines.append(
        f"{payload.get('epochs_run', '?')} epochs in {num(payload.get('fit_seconds'), 3)} s "
        f"on {esc(payload.get('device') or 'cpu')} ({esc(payload.get('backend') or '?')})."
    )
    if payload.get("missing"):
        lines.append(missing_note(payload["missing"]))
    lines += column_lines(payload.get("columns") or [])
    predicted = prediction_lines(payload.get("predictions") or [], features, target)
    example = esc(payload.get("predict_example") or "200")
    footer = f"Ask it more with /predict, e.g. <code>/predict {example}</code>."
    # The prediction list is the only part that can grow without bound: it is what gets cut.
    budget = MAX_TEXT - utf16_len("\n".join([*lines, footer])) - 60
    shown: list[str] = []
    for line in predicted:
        if utf16_len("\n".join([*shown, line])) > budget:
            shown.append(f"… and {len(predicted) - len(shown)} more lines")
            break
        shown.append(line)
    if shown:
        lines += ["", "<b>Predictions</b>", *shown]
    return clip("\n".join([*lines, "", footer]))


def job_failed(payload: Mapping[str, Any]) -> str:
    error = payload.get("error") or "it stopped unexpectedly."
    return clip(f"❌ Job {payload.get('job_id')} failed: {esc(error)}")


def job_cancelled(payload: Mapping[str, Any]) -> str:
    return f"❌ Job {payload.get('job_id')} is cancelled."


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


# -- progress ------------------------------------------------------------------------------

PROGRESS_QUEUED = "⏳ Job {job_id} · waiting in the queue"
PROGRESS_RETRY = "🔁 Job {job_id} · trying again shortly"
PROGRESS_STARTING = "⚙️ Job {job_id} · starting…"
PROGRESS_PREDICTING = "⚙️ Job {job_id} · predicting…"
PROGRESS_TRAINING = "🏋️ Job {job_id} · training"
PROGRESS_CANCELLING = "🛑 Job {job_id} · stopping…"
PROGRESS_DONE = "✅ Job {job_id} · done"
PROGRESS_FAILED = "❌ Job {job_id} · failed"
PROGRESS_CANCELLED = "❌ Job {job_id} · cancelled"


def progress_numbers(loss: float | None, val_loss: float | None, eta_seconds: float | None) -> str:
    parts = []
    if loss is not None:
        parts.append(f"loss {num(loss, 4)}")
    if val_loss is not None:
        parts.append(f"val {num(val_loss, 4)}")
    if eta_seconds is not None:
        parts.append("almost done" if eta_seconds < 1 else f"about {duration(eta_seconds)} left")
    return " · ".join(parts)


def progress_done(model_version: Any, epochs_run: Any, fit_seconds: Any) -> str:
    parts = []
    if model_version is not None:
        parts.append(f"model v{model_version}")
    if epochs_run is not None and fit_seconds is not None:
        parts.append(f"{epochs_run} epochs in {num(fit_seconds, 3)} s")
    return ", ".join(parts)


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


# -- jobs ----------------------------------------------------------------------------------

NO_JOBS = "No jobs yet. Send a CSV with the caption /train to start one."
STATUS_USAGE = "Which job? For example <code>/status 12</code>; /jobs lists them."
CANCEL_USAGE = "Which job? For example <code>/cancel 12</code>; /jobs lists them."

STATUS_WORDS = {
    "queued": "⏳ queued",
    "running": "🏋️ running",
    "succeeded": "✅ done",
    "failed": "❌ failed",
    "cancelled": "❌ cancelled",
}


def job_not_found(job_id: int) -> str:
    return f"This chat has no job {job_id}. /jobs lists its jobs."


def job_line(
    job_id: int, kind: str, status: str, detail: str | None, position: int | None = None
) -> str:
    text = f"<b>{job_id}</b> {esc(kind)} · {STATUS_WORDS.get(status, esc(status))}"
    if position is not None:
        text += f" ({position_phrase(position)})"
    if detail:
        text += f" · {detail}"
    return text


def jobs_list(lines: Sequence[str]) -> str:
    return clip("<b>Recent jobs</b>\n" + "\n".join(lines) + "\n\n/status 12 shows one job.")


def cancelling_queued(job_id: int) -> str:
    return f"OK, cancelling job {job_id}."


def cancelling_running(job_id: int) -> str:
    return f"OK, stopping job {job_id}; it ends after the current step."


def already_finished(job_id: int, status: str) -> str:
    return f"Job {job_id} has already finished ({STATUS_WORDS.get(status, esc(status))})."


# -- models --------------------------------------------------------------------------------

NO_MODELS = "No models yet. Send a CSV with the caption /train to train one."


def model_usage(command: str) -> str:
    return f"Which model? For example <code>/{command} v2</code>; /models lists them."


def model_not_found(version: int) -> str:
    return f"This chat has no model v{version}. /models lists its models."


def model_line(
    version: int, active: bool, target: str, features: Sequence[str], quality: str | None
) -> str:
    mark = " (active)" if active else ""
    text = f"<b>v{version}</b>{mark} · {esc(target)} from {names(features)}"
    return text + (f" · {quality}" if quality else "")


def models_list(lines: Sequence[str]) -> str:
    return clip(
        "<b>Models</b>\n" + "\n".join(lines) + "\n\n/use v2 picks one; /download v2 sends it."
    )


def model_activated(version: int) -> str:
    return f"Model v{version} is now the one /predict uses."


def model_deleted(version: int, was_active: bool) -> str:
    text = f"Deleted model v{version}."
    if was_active:
        text += " /predict has no model now; pick one with /use."
    return text


def model_file_caption(
    version: int, target: str, features: Sequence[str], scaling: Mapping[str, Any]
) -> str:
    text = (
        f"Model v{version}: {esc(target)} from {names(features)}. "
        "Open it with <code>keras.saving.load_model()</code>."
    )
    if not scaling:
        return text
    if scaling.get("in_model"):
        # Standardisation is inside the model as layers: raw inputs in, the target's units out.
        columns = ", ".join(esc(name) for name in features)
        text = (
            f"{text} It stands alone: <code>model.predict(np.array([[{columns}]]))</code> "
            f"gives {esc(target)} from inputs in this order, in their own units."
        )
        plan = ColumnPlan.of_model(scaling, features, target)
        if not plan.plain:
            # Categories, dates and gaps become those numbers as trainbot.json inside says.
            text += " Made from your columns as: " + esc("; ".join(plan.describe()))
        return clip(text, MAX_CAPTION)
    # Older networks work on standardised values; the scaling makes their numbers usable.
    with_scaling = (
        f"{text} It works on standardised values: scale inputs and unscale the output with "
        f"<code>{esc(json.dumps(scaling, separators=(',', ':')))}</code>"
    )
    return with_scaling if utf16_len(with_scaling) <= MAX_CAPTION else text

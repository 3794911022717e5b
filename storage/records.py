"""Reads and writes on behalf of a chat: every function takes the owning chat id.

A row of another chat is indistinguishable from a missing one, by construction: the chat id
is part of every WHERE clause here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, undefer

from storage import results
from storage.db import Database
from storage.models import UNFINISHED, Artifact, Chat, Job, Model, ProgressMessage, Upload, User
from storage.views import ArtifactInfo, JobInfo, ModelInfo, UploadInfo, view_of, view_or_none


@dataclass(frozen=True)
class ChatRef:
    id: int
    type: str = "private"
    title: str | None = None


@dataclass(frozen=True)
class UserRef:
    id: int
    username: str | None = None
    first_name: str | None = None


class Records:
    """Chat-scoped access to jobs, datasets, models and artifacts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- chats and users ---------------------------------------------------------------------

    def remember(self, chat: ChatRef, user: UserRef | None = None) -> None:
        """Insert or refresh the chat (and user) a request came from."""
        with self.db.session() as session:
            _upsert(session, Chat, {"id": chat.id, "type": chat.type, "title": chat.title})
            if user is not None:
                _upsert(
                    session,
                    User,
                    {"id": user.id, "username": user.username, "first_name": user.first_name},
                )

    # -- datasets ----------------------------------------------------------------------------

    def save_dataset(
        self,
        chat_id: int,
        *,
        user_id: int | None,
        filename: str,
        content: bytes,
        n_rows: int,
        columns: Sequence[str],
    ) -> UploadInfo:
        dataset = Upload(
            chat_id=chat_id,
            user_id=user_id,
            filename=filename[:256],
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            n_rows=n_rows,
            n_columns=len(columns),
            columns=list(columns),
        )
        with self.db.session() as session:
            session.add(dataset)
            session.flush()
            return view_of(UploadInfo, dataset)

    def dataset_content(self, chat_id: int, dataset_id: int) -> bytes | None:
        with self.db.session() as session:
            return session.scalar(
                select(Upload.content).where(Upload.id == dataset_id, Upload.chat_id == chat_id)
            )

    # -- jobs --------------------------------------------------------------------------------

    def get_job(self, chat_id: int, job_id: int) -> JobInfo | None:
        with self.db.session() as session:
            job = session.scalars(
                select(Job).where(Job.id == job_id, Job.chat_id == chat_id)
            ).one_or_none()
            return view_or_none(JobInfo, job)

    def list_jobs(self, chat_id: int, limit: int = 10) -> list[JobInfo]:
        with self.db.session() as session:
            return [
                view_of(JobInfo, job)
                for job in session.scalars(
                    select(Job).where(Job.chat_id == chat_id).order_by(Job.id.desc()).limit(limit)
                )
            ]

    def count_unfinished_jobs(self, chat_id: int) -> int:
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.chat_id == chat_id, Job.status.in_(UNFINISHED))
                )
                or 0
            )

    def set_progress_message(self, chat_id: int, job_id: int, message_id: int) -> None:
        """Remember which chat message shows this job's progress (the bot edits it)."""
        with self.db.session() as session:
            mine = session.scalar(select(Job.id).where(Job.id == job_id, Job.chat_id == chat_id))
            if mine is not None:
                session.merge(ProgressMessage(job_id=job_id, message_id=message_id))

    # -- models ------------------------------------------------------------------------------

    def list_models(self, chat_id: int) -> list[ModelInfo]:
        with self.db.session() as session:
            return [
                view_of(ModelInfo, model)
                for model in session.scalars(
                    select(Model).where(Model.chat_id == chat_id).order_by(Model.version.desc())
                )
            ]

    def model_facts(self, chat_id: int) -> dict[int, dict[str, Any]]:
        """Per version, which of the chat's models it is, for people: file, date, trainer
        (storage.results.model_facts), as every message about a model names them."""
        with self.db.session() as session:
            return {
                model.version: results.model_facts(session, model)
                for model in session.scalars(select(Model).where(Model.chat_id == chat_id))
            }

    def get_model(self, chat_id: int, version: int, *, with_file: bool = False) -> ModelInfo | None:
        """A chat's model by the version number the chat sees (v1, v2, ...)."""
        query = select(Model).where(Model.chat_id == chat_id, Model.version == version)
        if with_file:
            query = query.options(undefer(Model.keras_file))
        with self.db.session() as session:
            return view_or_none(ModelInfo, session.scalars(query).one_or_none())

    def model_by_id(self, chat_id: int, model_id: int) -> ModelInfo | None:
        with self.db.session() as session:
            return view_or_none(
                ModelInfo,
                session.scalars(
                    select(Model).where(Model.chat_id == chat_id, Model.id == model_id)
                ).one_or_none(),
            )

    def model_file(self, chat_id: int, model_id: int) -> bytes | None:
        """The `.keras` file of one of the chat's models."""
        with self.db.session() as session:
            return session.scalar(
                select(Model.keras_file).where(Model.chat_id == chat_id, Model.id == model_id)
            )

    def active_model(self, chat_id: int) -> ModelInfo | None:
        with self.db.session() as session:
            return view_or_none(
                ModelInfo,
                session.scalars(
                    select(Model).where(Model.chat_id == chat_id, Model.is_active)
                ).one_or_none(),
            )

    def activate_model(self, chat_id: int, version: int) -> ModelInfo | None:
        """Make one of the chat's models the one `/predict` uses; None if it has no such model."""
        with self.db.session() as session:
            model = session.scalars(
                select(Model).where(Model.chat_id == chat_id, Model.version == version)
            ).one_or_none()
            if model is None:
                return None
            session.execute(
                update(Model)
                .where(Model.chat_id == chat_id, Model.is_active)
                .values(is_active=False)
            )
            # The partial unique index sees the old active row gone before this one is set.
            session.flush()
            model.is_active = True
            session.flush()
            return view_of(ModelInfo, model)

    def delete_model(self, chat_id: int, version: int) -> bool:
        with self.db.session() as session:
            deleted = session.execute(
                delete(Model)
                .where(Model.chat_id == chat_id, Model.version == version)
                .returning(Model.id)
            ).scalar_one_or_none()
            return deleted is not None

    # -- artifacts ---------------------------------------------------------------------------

    def get_artifact(self, chat_id: int, artifact_id: int) -> ArtifactInfo | None:
        with self.db.session() as session:
            artifact = session.scalars(
                select(Artifact)
                .where(Artifact.id == artifact_id, Artifact.chat_id == chat_id)
                .options(undefer(Artifact.content))
            ).one_or_none()
            return view_or_none(ArtifactInfo, artifact)

    def job_artifacts(self, chat_id: int, job_id: int) -> list[ArtifactInfo]:
        with self.db.session() as session:
            return [
                view_of(ArtifactInfo, artifact)
                for artifact in session.scalars(
                    select(Artifact)
                    .where(Artifact.job_id == job_id, Artifact.chat_id == chat_id)
                    .order_by(Artifact.id)
                )
            ]


def _upsert(session: Session, table: type[Chat] | type[User], values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={key: statement.excluded[key] for key in values if key != "id"},
        )
    )

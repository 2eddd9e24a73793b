"""The review loop: reviewed answers served to the same question, answers stopped as unsafe, flagged passages.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviewed_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.String(64), nullable=True),  # the reviewed turn; kept as text when it is purged
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.JSON, nullable=False),  # chunk ids of the passages it rests on
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),  # a second reviewer, when the clinic requires one
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_reviewed_answers_retired_at", "reviewed_answers", ["retired_at"])
    op.create_table(
        "blocked_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.String(64), nullable=True),
        sa.Column("chunk_ids", sa.JSON, nullable=False),  # the passages the unsafe answer cited, in order
        sa.Column("sentences", sa.JSON, nullable=False),  # and the sentences it showed from them
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "passage_flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chunk_id", sa.String(300), nullable=False),
        sa.Column("passage_sha", sa.String(64), nullable=False),  # the flag holds while the text is unchanged
        sa.Column("action", sa.String(20), nullable=False),  # exclude | annotate
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_passage_flags_passage_sha", "passage_flags", ["passage_sha"])


def downgrade() -> None:
    op.drop_table("passage_flags")
    op.drop_table("blocked_answers")
    op.drop_index("ix_reviewed_answers_retired_at", "reviewed_answers")
    op.drop_table("reviewed_answers")

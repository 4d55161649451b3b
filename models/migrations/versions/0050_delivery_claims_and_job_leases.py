"""alerts: per-message delivery claims, hand-over marks, priorities, hold reasons; job leases

- ``deliveries.claimed_by`` / ``claimed_at``: which sender process (host:pid) holds a row in
  ``sending``, so a restarted process on that host takes back rows of a sender that died without
  waiting for the lease.
- ``deliveries.handed_over_at``: set just before the message's data goes to the server; an
  interrupted attempt is "in doubt" only when it is set.
- ``deliveries.first_attempt_at``: transient failures give up after ``alerts.give_up_after_hours``
  counted from here.
- ``deliveries.priority``: critical messages are claimed first.
- ``deliveries.hold_reason``: why a message is not due yet (quiet hours, merge window, rate limit).
- status ``cancelled``: a queued alert whose case was closed before it went out.
- ``job_leases``: a scheduler job that must run on one ``presswatch run`` instance only.

Revision ID: 0050
Revises: 0015
Create Date: 2026-12-04 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0050'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ('pending', 'sending', 'sent', 'dead')
NEW = (*OLD, 'cancelled')


def _status_check(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table('deliveries', recreate='always') as batch:
        batch.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('claimed_at', models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('handed_over_at', models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('first_attempt_at', models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('hold_reason', sa.String(length=300), nullable=True))
        batch.drop_constraint(op.f('ck_deliveries_delivery_status'), type_='check')
        batch.create_check_constraint('delivery_status', _status_check(NEW))
        batch.create_index('ix_deliveries_claimed_by', ['claimed_by'], unique=False)
    # Rows queued before this revision: critical ones first, like new ones.
    op.execute("UPDATE deliveries SET priority = 3 WHERE payload LIKE '%\"severity\": \"critical\"%'"
               if op.get_bind().dialect.name == 'sqlite' else
               "UPDATE deliveries SET priority = 3 WHERE payload->>'severity' = 'critical'")
    op.create_table(
        'job_leases',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('acquired_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('expires_at', models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases')),
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    op.execute("UPDATE deliveries SET status = 'dead', last_error = 'cancelled' WHERE status = 'cancelled'")
    with op.batch_alter_table('deliveries', recreate='always') as batch:
        batch.drop_index('ix_deliveries_claimed_by')
        batch.drop_constraint(op.f('ck_deliveries_delivery_status'), type_='check')
        batch.create_check_constraint('delivery_status', _status_check(OLD))
        for column in ('hold_reason', 'priority', 'first_attempt_at', 'handed_over_at', 'claimed_at', 'claimed_by'):
            batch.drop_column(column)

"""web: users, grants, sessions, login attempts, the audit log; every rule, query, digest, case,
correction, plan and quota rule belongs to a unit (the organization tree)

An existing install was one organization: its rows are given to its single root unit. When the
install has several top-level units (or none, while it has rules or cases), a root unit
``organization`` is created and the top-level units are put under it, so the whole install is one
organization tree and nothing is left unowned.

Revision ID: 0020
Revises: 0070
Create Date: 2026-12-04 17:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0070'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNED = ('alert_rules', 'alerts', 'watch_queries', 'digests', 'correction_requests', 'risk_plans')


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('display_name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=300), nullable=False),
        sa.Column('password_hash', sa.String(length=300), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('is_superuser', sa.Boolean(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('must_change_password', sa.Boolean(), nullable=False),
        _ts('created_at'), _ts('password_changed_at', True), _ts('last_login_at', True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
        sa.UniqueConstraint('username', name=op.f('uq_users_username')),
    )
    op.create_table(
        'grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.Enum('admin', 'analyst', 'leader', 'correspondent', name='grant_role',
                                  native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('granted_by', sa.String(length=100), nullable=False),
        _ts('created_at'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_grants_unit_id_units'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_grants_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grants')),
        sa.UniqueConstraint('user_id', 'unit_id', 'role', name=op.f('uq_grants_user_id_unit_id_role')),
    )
    op.create_index('ix_grants_unit_id', 'grants', ['unit_id'])
    op.create_table(
        'web_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        _ts('created_at'), _ts('last_seen_at'), _ts('revoked_at', True),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=300), nullable=False),
        sa.Column('active_unit_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['active_unit_id'], ['units.id'], name=op.f('fk_web_sessions_active_unit_id_units'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash')),
    )
    op.create_index('ix_web_sessions_user_id', 'web_sessions', ['user_id'])
    op.create_table(
        'login_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        _ts('at'),
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.Column('success', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts')),
    )
    op.create_index('ix_login_attempts_username_at', 'login_attempts', ['username', 'at'])
    op.create_index('ix_login_attempts_client_address_at', 'login_attempts', ['client_address', 'at'])
    json_type = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql')
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        _ts('at'),
        sa.Column('actor_user_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('object_type', sa.String(length=64), nullable=False),
        sa.Column('object_id', sa.String(length=64), nullable=False),
        sa.Column('before', json_type, nullable=True),
        sa.Column('after', json_type, nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_audit_log_actor_user_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_audit_log_unit_id_units'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_unit_id_at', 'audit_log', ['unit_id', 'at'])

    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
            batch.create_foreign_key(f'fk_{table}_unit_id_units', 'units', ['unit_id'], ['id'], ondelete='SET NULL')
        if table == 'alerts':
            op.create_index('ix_alerts_unit_id_state', 'alerts', ['unit_id', 'state'])
        else:
            op.create_index(f'ix_{table}_unit_id', table, ['unit_id'])
    with op.batch_alter_table('quota_rules') as batch:
        batch.add_column(sa.Column('owner_unit_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_quota_rules_owner_unit_id_units', 'units', ['owner_unit_id'], ['id'],
                                 ondelete='SET NULL')
    op.create_index('ix_quota_rules_owner_unit_id', 'quota_rules', ['owner_unit_id'])
    _one_organization()


def _one_organization() -> None:
    """Give every existing row to the install's organization (see the module docstring)."""
    conn = op.get_bind()
    roots = [r[0] for r in conn.execute(sa.text("SELECT id FROM units WHERE parent_id IS NULL ORDER BY id"))]
    owned_rows = sum(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in (*OWNED, 'quota_rules'))
    if len(roots) == 1:
        org = roots[0]
    elif roots or owned_rows:
        now = datetime.now(UTC)
        if conn.dialect.name == 'sqlite':
            now = now.replace(tzinfo=None)
        conn.execute(sa.text(
            "INSERT INTO units (code, name, kind, parent_id, aliases, active, contacts, created_at, updated_at) "
            "VALUES ('organization', 'Organization', 'other', NULL, '[]', :t, '[]', :now, :now)"
        ), {"now": now, "t": True})
        org = conn.execute(sa.text("SELECT id FROM units WHERE code = 'organization'")).scalar_one()
        conn.execute(sa.text("UPDATE units SET parent_id = :org WHERE parent_id IS NULL AND id <> :org"), {"org": org})
        conn.execute(sa.text("UPDATE unit_history SET parent_id = :org WHERE parent_id IS NULL AND valid_to IS NULL"),
                     {"org": org})
    else:
        return  # a fresh install: nothing to own yet
    for table in OWNED:
        conn.execute(sa.text(f"UPDATE {table} SET unit_id = :org WHERE unit_id IS NULL"), {"org": org})
    conn.execute(sa.text("UPDATE quota_rules SET owner_unit_id = COALESCE(unit_id, parent_unit_id, :org)"),
                 {"org": org})


def downgrade() -> None:
    op.drop_index('ix_quota_rules_owner_unit_id', table_name='quota_rules')
    with op.batch_alter_table('quota_rules') as batch:
        batch.drop_constraint('fk_quota_rules_owner_unit_id_units', type_='foreignkey')
        batch.drop_column('owner_unit_id')
    for table in OWNED:
        op.drop_index('ix_alerts_unit_id_state' if table == 'alerts' else f'ix_{table}_unit_id', table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f'fk_{table}_unit_id_units', type_='foreignkey')
            batch.drop_column('unit_id')
    for table in ('audit_log', 'login_attempts', 'web_sessions', 'grants', 'users'):
        op.drop_table(table)

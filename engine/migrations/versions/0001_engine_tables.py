"""engine tables

Revision ID: 0001_engine
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0001_engine'
down_revision = None
branch_labels = ('engine',)
depends_on = None


def upgrade() -> None:
    op.create_table('wf_definition_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('content_hash')
    )
    op.create_table('wf_process_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('spec_json', sa.Text(), nullable=False),
    sa.Column('serializer_version', sa.String(length=16), nullable=False),
    sa.Column('message_starts', sa.JSON(), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['wf_definition_file.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('process_id', 'content_hash'),
    sa.UniqueConstraint('process_id', 'version')
    )
    with op.batch_alter_table('wf_process_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wf_process_version_process_id'), ['process_id'], unique=False)

    op.create_table('wf_instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=255), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('business_key', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('variables', sa.Text(), nullable=True),
    sa.Column('serializer_version', sa.String(length=16), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.Column('started_by', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('steps', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['wf_process_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_instance', schema=None) as batch_op:
        batch_op.create_index('ix_wf_instance_key', ['business_key'], unique=False)
        batch_op.create_index('ix_wf_instance_status', ['status', 'process_id'], unique=False)

    op.create_table('wf_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('element_id', sa.String(length=255), nullable=True),
    sa.Column('element_name', sa.String(length=255), nullable=True),
    sa.Column('element_type', sa.String(length=64), nullable=True),
    sa.Column('user', sa.String(length=255), nullable=True),
    sa.Column('data_delta', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['wf_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_history', schema=None) as batch_op:
        batch_op.create_index('ix_wf_history_instance', ['instance_id', 'id'], unique=False)

    op.create_table('wf_human_task',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=255), nullable=False),
    sa.Column('business_key', sa.String(length=255), nullable=True),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('lane', sa.String(length=255), nullable=True),
    sa.Column('form', sa.String(length=255), nullable=True),
    sa.Column('ui_form', sa.String(length=255), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('assignee', sa.String(length=255), nullable=True),
    sa.Column('candidate_groups', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('follow_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['wf_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_human_task', schema=None) as batch_op:
        batch_op.create_index('ix_wf_human_task_assignee', ['assignee', 'state', 'due_at'], unique=False)
        batch_op.create_index('ix_wf_human_task_instance', ['instance_id', 'state'], unique=False)
        batch_op.create_index('ix_wf_human_task_open', ['state', 'lane', 'due_at'], unique=False)

    op.create_table('wf_incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('element_id', sa.String(length=255), nullable=True),
    sa.Column('element_name', sa.String(length=255), nullable=True),
    sa.Column('error_type', sa.String(length=255), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('retries_left', sa.Integer(), nullable=False),
    sa.Column('next_retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['wf_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wf_incident_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_wf_incident_open', ['state', 'next_retry_at'], unique=False)

    op.create_table('wf_message_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('message_name', sa.String(length=255), nullable=False),
    sa.Column('correlation_key', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['wf_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_message_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wf_message_subscription_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_wf_subscription_name', ['message_name', 'correlation_key'], unique=False)

    op.create_table('wf_timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['wf_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_timer', schema=None) as batch_op:
        batch_op.create_index('ix_wf_timer_due', ['state', 'due_at'], unique=False)
        batch_op.create_index('ix_wf_timer_instance', ['instance_id', 'state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wf_timer', schema=None) as batch_op:
        batch_op.drop_index('ix_wf_timer_instance')
        batch_op.drop_index('ix_wf_timer_due')

    op.drop_table('wf_timer')
    with op.batch_alter_table('wf_message_subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_wf_subscription_name')
        batch_op.drop_index(batch_op.f('ix_wf_message_subscription_instance_id'))

    op.drop_table('wf_message_subscription')
    with op.batch_alter_table('wf_incident', schema=None) as batch_op:
        batch_op.drop_index('ix_wf_incident_open')
        batch_op.drop_index(batch_op.f('ix_wf_incident_instance_id'))

    op.drop_table('wf_incident')
    with op.batch_alter_table('wf_human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_wf_human_task_open')
        batch_op.drop_index('ix_wf_human_task_instance')
        batch_op.drop_index('ix_wf_human_task_assignee')

    op.drop_table('wf_human_task')
    with op.batch_alter_table('wf_history', schema=None) as batch_op:
        batch_op.drop_index('ix_wf_history_instance')

    op.drop_table('wf_history')
    with op.batch_alter_table('wf_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_wf_instance_status')
        batch_op.drop_index('ix_wf_instance_key')

    op.drop_table('wf_instance')
    with op.batch_alter_table('wf_process_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wf_process_version_process_id'))

    op.drop_table('wf_process_version')
    op.drop_table('wf_definition_file')

"""Alembic environment: runs on the connection handed over by schema.migrate."""

from alembic import context

from schema import metadata
from schema.references import enforced

connection = context.config.attributes["connection"]


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201
    # A foreign key declared for other databases only is not one this database lacks.
    if type_ == "foreign_key_constraint" and not reflected:
        return enforced(obj, connection.dialect.name)
    # The agent's job table belongs to APScheduler, which creates it itself.
    return not (type_ == "table" and name == "agent_jobs")


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

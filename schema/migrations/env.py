"""Alembic environment: runs on the connection handed over by schema.migrate."""

from alembic import context

from schema import metadata

connection = context.config.attributes["connection"]


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201
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

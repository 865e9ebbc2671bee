"""Persistence: SQLAlchemy 2 async models and queries, migrations, blob storage."""

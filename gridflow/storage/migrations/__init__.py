"""The schema's history as Alembic revisions (storage ring): ``versions/`` holds one script
per schema version, ``env.py`` runs them on the connection the store hands over
(``config.attributes["connection"]``, already in its locked transaction). Driven by
:mod:`gridflow.storage.migrate`; no ``alembic.ini`` is needed."""

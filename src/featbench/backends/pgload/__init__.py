"""PostgreSQL loading: generated rows streamed with binary COPY by parallel workers, resumable.

The store that uses it is `featbench.backends.postgres` (`PostgresBackend.load`,
`verify`, `loaded_dataset`); nothing here imports a store, so the dependency goes one
way. Redis and DynamoDB load through `featbench.backends.kvstore`.
"""

"""The Feast repository: the contract between the feature layer and the models.

Definitions (entities, sources, views, services) live in `definitions.py`, built for a
given state root so that tests and notebooks can point them at any ALPHADAG_HOME;
`repo.py` instantiates them for the `feast` command line. `store.py` holds the few
operations the pipeline needs. Importing feast costs seconds: nothing here is imported
when the Dagster definitions load.
"""

"""The REST APIs the exporter reads: the AI Gateway's, and the Vercel API's budgets list.

``api`` holds what every client shares (ApiClient); ``client`` (credits, generations, reports),
``budgets_client`` and ``catalog_client`` are its sibling subclasses; ``models``,
``budgets_models`` and ``catalog_models`` hold the records their answers are parsed into, each
beside its parser; ``errors``, ``retry`` and ``keys`` serve them all.
"""

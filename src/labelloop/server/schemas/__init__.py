"""Request and response bodies of the REST API (``/api/v1``)."""

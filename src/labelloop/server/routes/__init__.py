"""Routes of the server: the REST API under ``/api/v1`` and the HTML pages."""

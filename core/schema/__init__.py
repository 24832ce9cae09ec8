"""The OpenAPI document (drf-spectacular): what the views share to describe themselves.

- ``errors``: the error envelope, every error code by status, with an example of each;
- ``parameters``: path, query and header parameters used by more than one operation;
- ``pages``: the page envelope ``{"results", "next", "previous"}``;
- ``autoschema`` and ``hooks``: what spectacular does differently for this API (no empty
  security requirement on public operations; ``Retry-After`` on every 429 and 503; who the
  credentials of the operators' schemes belong to);
- ``probes``: ``/healthz`` and ``/readyz``, which are plain Django views.

Import from the modules: this package is imported by the settings (for ``probes``), before
Django is set up, so it imports nothing itself.
"""

"""The service's own endpoints, besides events and the registry: /api/v0/info, /ready, /ping, the
OpenAPI document and its docs page."""

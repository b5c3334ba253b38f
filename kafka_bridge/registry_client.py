"""Schema ids for Kafka records, from the registry tables or from an external registry.

Without ``SCHEMA_REGISTRY_URL`` a revision's global schema id is its primary key, read straight
from the database: the worker never needs the web process. With it, the revision's schema is
registered in that Confluent-compatible registry under the record's full name (RecordNameStrategy)
and the registry's id is used. The client is built lazily, one per process; ids are cached per
process because revisions never change.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from django.conf import settings

_lock = threading.Lock()
_client: SchemaRegistryClient | None = None


# user:password@ (or user@) in a URL: kept out of every message (dead-letter reasons, logs).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def credentials_redacted(text: str) -> str:
    """``text`` with the user information of every URL in it replaced by ``***``."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


class RegistryUnavailable(Exception):
    """The external registry did not answer (or answered 5xx): retry later."""


class RegistryRefused(Exception):
    """The external registry refused the schema (4xx): retrying cannot help."""


def _registry_client() -> SchemaRegistryClient:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                config = {"url": settings.SCHEMA_REGISTRY_URL}
                if settings.SCHEMA_REGISTRY_BASIC_AUTH:
                    config["basic.auth.user.info"] = settings.SCHEMA_REGISTRY_BASIC_AUTH
                _client = SchemaRegistryClient(config)
    return _client


@lru_cache(maxsize=1024)
def _external_schema_id(subject: str, schema: str) -> int:
    try:
        schema_id: int = _registry_client().register_schema(subject, Schema(schema, "AVRO"))
    except SchemaRegistryError as exc:
        if exc.http_status_code >= 500 or exc.http_status_code < 0:
            raise RegistryUnavailable(credentials_redacted(str(exc))) from exc
        raise RegistryRefused(credentials_redacted(f"{settings.SCHEMA_REGISTRY_URL} refused {subject}: {exc}")) from exc
    except Exception as exc:
        # The client's HTTP layer raises its own connection errors: all mean "not reachable".
        raise RegistryUnavailable(credentials_redacted(f"{settings.SCHEMA_REGISTRY_URL}: {exc}")) from exc
    return schema_id


def record_schema_id(*, local_id: int, subject: str, schema: str) -> int:
    """The schema id to put in a record's Confluent frame."""
    if not settings.SCHEMA_REGISTRY_URL:
        return local_id
    return _external_schema_id(subject, schema)


def registry_client_reset() -> None:
    global _client
    with _lock:
        _client = None
    _external_schema_id.cache_clear()

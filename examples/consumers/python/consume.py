"""Reads event capture's topics with confluent-kafka, decodes each value (Confluent wire format)
with its ``AvroDeserializer`` through the service's schema-registry API, drops records whose
``event_id`` header it has already seen, and prints one JSON line per record (UUIDs as text,
timestamps in ISO 8601). Needs only ``confluent-kafka[avro,schemaregistry]``, not this project.
See docs/consumers.md; options: ``python consume.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

REGISTRY_TIMEOUT_SECONDS = 10
# A duplicate follows its original closely (a retried batch): a bounded window of ids is enough.
SEEN_IDS = 100_000


def _arguments() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", default=env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--registry-url", default=env("REGISTRY_URL", "http://127.0.0.1:8000/schema-registry"))
    parser.add_argument("--topics", default=env("TOPICS", ""), help="comma-separated; default: all under the prefix")
    parser.add_argument("--topic-prefix", default=env("TOPIC_PREFIX", ""), help="default: every topic but Kafka's own")
    parser.add_argument("--group-id", default=env("GROUP_ID", f"consumer-example-{uuid.uuid4()}"))
    parser.add_argument("--max-records", type=int, default=int(env("MAX_RECORDS", "0")) or None)
    parser.add_argument(
        "--timeout", type=float, default=float(env("TIMEOUT_SECONDS", "30")), help="stop after so many idle seconds"
    )
    return parser.parse_args()


def plain(value: Any) -> Any:
    """A decoded value as JSON: a fixed(16) (the catalogue's only bytes, ``org.openstax.ec.uuid``)
    as UUID text, a timestamp-millis (a datetime) in ISO 8601."""
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes=value)) if len(value) == 16 else value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {name: plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _headers(message: Message) -> dict[str, str]:
    """A record's headers as text (a consumed record's are a list of (name, bytes) pairs)."""
    headers: dict[str, str] = {}
    for name, raw in list(message.headers() or []):
        if isinstance(raw, bytes):
            headers[str(name)] = raw.decode()
    return headers


def main() -> int:
    args = _arguments()
    registry = SchemaRegistryClient({"url": args.registry_url, "timeout": REGISTRY_TIMEOUT_SECONDS})
    deserializer = AvroDeserializer(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": args.group_id,
            "auto.offset.reset": "earliest",
            # Offsets are stored only once a record is printed, committed in the background: at
            # least once, as the producer.
            "enable.auto.offset.store": False,
        }
    )
    topics = [topic for topic in args.topics.split(",") if topic]
    # A leading ^ makes librdkafka read the name as a regular expression.
    consumer.subscribe(topics or [f"^{re.escape(args.topic_prefix)}.*" if args.topic_prefix else "^[^_].*"])
    seen: OrderedDict[str, None] = OrderedDict()
    printed = duplicates = 0
    last_record = time.monotonic()
    limit = args.max_records if args.max_records is not None else float("inf")
    try:
        while printed < limit and time.monotonic() - last_record < args.timeout:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                print(f"kafka: {message.error()}", file=sys.stderr)
                continue
            last_record = time.monotonic()
            headers = _headers(message)
            event_id = headers.get("event_id")
            if event_id is not None:
                if event_id in seen:
                    duplicates += 1
                    consumer.store_offsets(message)
                    continue
                seen[event_id] = None
                if len(seen) > SEEN_IDS:
                    seen.popitem(last=False)
            topic = message.topic() or ""
            try:
                value = deserializer(message.value(), SerializationContext(topic, MessageField.VALUE))
            except Exception as exc:  # any record that cannot be read is reported and skipped
                print(f"cannot decode {topic}/{message.partition()}@{message.offset()}: {exc}", file=sys.stderr)
                consumer.store_offsets(message)
                continue
            key = message.key()
            line = {
                "topic": topic,
                "partition": message.partition(),
                "offset": message.offset(),
                "key": key.decode() if isinstance(key, bytes) else key,
                "event_id": event_id,
                "event_type": headers.get("event_type"),
                "value": plain(value),
            }
            print(json.dumps(line), flush=True)
            consumer.store_offsets(message)
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()  # commits the stored offsets
    print(json.dumps({"records": printed, "duplicates_dropped": duplicates}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

package org.openstax.eventcapture.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads event capture's topics with Apache Kafka's client, decodes each value (Confluent wire
 * format: byte 0, a 4-byte big-endian schema id, the Avro binary datum) with Apache Avro and the
 * writer's schema fetched by id from the service's schema-registry API, drops records whose
 * {@code event_id} header it has already seen, and prints one JSON line per record.
 *
 * <p>Options (each also from an environment variable): --bootstrap-servers (KAFKA_BOOTSTRAP_SERVERS),
 * --registry-url (REGISTRY_URL), --topics a,b (TOPICS) or --topic-prefix p (TOPIC_PREFIX),
 * --group-id (GROUP_ID), --max-records N (MAX_RECORDS), --timeout SECONDS (TIMEOUT_SECONDS: stop
 * after that long without a new record).
 */
public final class Consume {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(10);
  // How many event ids are remembered to drop duplicates: a duplicate follows its original closely
  // (a retried batch), so a bounded window is enough; a sink keyed by event_id needs no window.
  private static final int SEEN_IDS = 100_000;

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(HTTP_TIMEOUT).build();
  private final String registryUrl;
  private final Map<Integer, Schema> schemas = new ConcurrentHashMap<>();
  private final GenericData data = new GenericData();

  Consume(String registryUrl) {
    this.registryUrl = registryUrl.replaceAll("/+$", "");
  }

  /** The writer's schema of an id, fetched once: a schema id never changes meaning. */
  Schema schema(int id) throws IOException, InterruptedException {
    Schema cached = schemas.get(id);
    if (cached != null) {
      return cached;
    }
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(registryUrl + "/schemas/ids/" + id)).timeout(HTTP_TIMEOUT).GET().build();
    HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) {
      throw new IOException("schema " + id + ": HTTP " + response.statusCode() + " " + response.body());
    }
    Schema schema = new Schema.Parser().parse(JSON.readTree(response.body()).get("schema").asText());
    schemas.put(id, schema);
    return schema;
  }

  Object decode(byte[] value) throws IOException, InterruptedException {
    if (value == null || value.length < 5 || value[0] != 0) {
      throw new IOException("not in Confluent's wire format");
    }
    int id = ByteBuffer.wrap(value, 1, 4).getInt();
    Schema schema = schema(id);
    GenericDatumReader<Object> reader = new GenericDatumReader<>(schema, schema, data);
    Object datum = reader.read(null, DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, null));
    return plain(datum, schema);
  }

  /** A decoded datum as plain JSON values: UUIDs (fixed(16)) as text, timestamps in ISO 8601. */
  static Object plain(Object datum, Schema schema) {
    if (datum == null) {
      return null;
    }
    switch (schema.getType()) {
      case UNION:
        return plain(datum, schema.getTypes().get(GenericData.get().resolveUnion(schema, datum)));
      case RECORD: {
        GenericRecord record = (GenericRecord) datum;
        Map<String, Object> fields = new LinkedHashMap<>();
        for (Schema.Field field : schema.getFields()) {
          fields.put(field.name(), plain(record.get(field.pos()), field.schema()));
        }
        return fields;
      }
      case ARRAY: {
        List<Object> items = new ArrayList<>();
        for (Object item : (List<?>) datum) {
          items.add(plain(item, schema.getElementType()));
        }
        return items;
      }
      case MAP: {
        Map<String, Object> entries = new LinkedHashMap<>();
        ((Map<?, ?>) datum).forEach((key, item) -> entries.put(key.toString(), plain(item, schema.getValueType())));
        return entries;
      }
      case FIXED: {
        ByteBuffer bytes = ByteBuffer.wrap(((GenericFixed) datum).bytes());
        return schema.getFixedSize() == 16 ? new UUID(bytes.getLong(), bytes.getLong()).toString() : bytes.array();
      }
      case LONG:
        if (schema.getLogicalType() instanceof LogicalTypes.TimestampMillis) {
          return Instant.ofEpochMilli((Long) datum).toString();
        }
        return datum;
      case STRING:
      case ENUM:
        return datum.toString();
      default:
        return datum;
    }
  }

  static String header(ConsumerRecord<String, byte[]> record, String name) {
    Header header = record.headers().lastHeader(name);
    return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
  }

  static String option(Map<String, String> args, String name, String variable, String fallback) {
    String value = args.getOrDefault(name, System.getenv(variable));
    return value == null || value.isEmpty() ? fallback : value;
  }

  public static void main(String[] argv) throws Exception {
    if (argv.length % 2 != 0 || Arrays.asList(argv).contains("--help")) {
      System.err.println("usage: Consume [--bootstrap-servers H:P] [--registry-url URL] [--topics a,b | --topic-prefix P]"
          + " [--group-id ID] [--max-records N] [--timeout SECONDS]   (see docs/consumers.md)");
      System.exit(argv.length == 1 ? 0 : 2);
    }
    Map<String, String> args = new LinkedHashMap<>();
    for (int i = 0; i < argv.length; i += 2) {
      if (!argv[i].startsWith("--")) {
        throw new IllegalArgumentException("expected --option value, got " + argv[i]);
      }
      args.put(argv[i].substring(2), argv[i + 1]);
    }
    String bootstrap = option(args, "bootstrap-servers", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    String registry = option(args, "registry-url", "REGISTRY_URL", "http://127.0.0.1:8000/schema-registry");
    String topics = option(args, "topics", "TOPICS", "");
    String prefix = option(args, "topic-prefix", "TOPIC_PREFIX", "");
    String groupId = option(args, "group-id", "GROUP_ID", "consumer-example-" + UUID.randomUUID());
    long maxRecords = Long.parseLong(option(args, "max-records", "MAX_RECORDS", String.valueOf(Long.MAX_VALUE)));
    Duration timeout = Duration.ofMillis((long) (Double.parseDouble(option(args, "timeout", "TIMEOUT_SECONDS", "30")) * 1000));

    Properties config = new Properties();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // Offsets are committed after the records are printed: at least once, as the producer.
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

    Consume consume = new Consume(registry);
    Set<String> seen = new LinkedHashSet<>();
    long printed = 0;
    long duplicates = 0;
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(config)) {
      if (!topics.isEmpty()) {
        consumer.subscribe(Arrays.asList(topics.split(",")));
      } else {
        // Every topic under the prefix, but Kafka's internal ones (__consumer_offsets).
        consumer.subscribe(Pattern.compile(prefix.isEmpty() ? "[^_].*" : Pattern.quote(prefix) + ".*"));
      }
      Instant idleSince = Instant.now();
      while (printed < maxRecords && Duration.between(idleSince, Instant.now()).compareTo(timeout) < 0) {
        ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(500));
        for (ConsumerRecord<String, byte[]> record : records) {
          idleSince = Instant.now();
          String eventId = header(record, "event_id");
          if (eventId != null && !seen.add(eventId)) {
            duplicates++;
            continue;
          }
          if (seen.size() > SEEN_IDS) {
            seen.remove(seen.iterator().next());
          }
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("topic", record.topic());
          line.put("partition", record.partition());
          line.put("offset", record.offset());
          line.put("key", record.key());
          line.put("event_id", eventId);
          line.put("event_type", header(record, "event_type"));
          try {
            line.put("value", consume.decode(record.value()));
          } catch (IOException | RuntimeException error) {
            System.err.println("cannot decode " + record.topic() + "/" + record.partition() + "@" + record.offset() + ": " + error.getMessage());
            continue;
          }
          System.out.println(JSON.writeValueAsString(line));
          if (++printed >= maxRecords) {
            break;
          }
        }
        if (printed < maxRecords) {
          // Stopping early leaves the rest of the batch uncommitted, for the next run to read.
          consumer.commitSync();
        }
      }
    }
    System.out.flush();
    System.err.println(JSON.writeValueAsString(Map.of("records", printed, "duplicates_dropped", duplicates)));
  }
}

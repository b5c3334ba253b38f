#!/usr/bin/env node
// Reads event capture's topics with kafkajs, decodes each value (Confluent wire format) with
// @kafkajs/confluent-schema-registry through the service's schema-registry API, drops records whose
// event_id header it has already seen, and prints one JSON line per record (UUIDs as text,
// timestamps in ISO 8601). See docs/consumers.md; options: node consume.js --help.
'use strict'

const { parseArgs } = require('node:util')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')
const avro = require('avsc')
const fzstd = require('fzstd')

// Every topic is zstd-compressed by the producer; kafkajs reads only gzip by itself and otherwise
// fails with "ZSTD compression not implemented". fzstd is a pure-JS decoder: nothing to build.
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress () {
    throw new Error('this codec only decompresses')
  },
  async decompress (buffer) {
    return Buffer.from(fzstd.decompress(buffer))
  }
})

// timestamp-millis as a Date (printed in ISO 8601) rather than a bare number of milliseconds.
class TimestampMillis extends avro.types.LogicalType {
  _fromValue (value) { return new Date(value) }
  _toValue (date) { return date instanceof Date ? date.getTime() : undefined }
  _resolve (type) {
    if (avro.Type.isType(type, 'long', 'logical:timestamp-millis')) return this._fromValue.bind(this)
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

// Avro longs as JavaScript numbers while they are exact (within ±(2^53 - 1)), else as BigInt: avsc's
// own long type throws "potential precision loss" past that, and a double would change the value.
const exactLong = avro.types.LongType.__with({
  fromBuffer: (buffer) => {
    const value = buffer.readBigInt64LE()
    return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value
  },
  toBuffer: (value) => {
    const buffer = Buffer.alloc(8)
    buffer.writeBigInt64LE(BigInt(value))
    return buffer
  },
  fromJSON: (value) => (Number.isSafeInteger(value) ? value : BigInt(value)),
  toJSON: (value) => (typeof value === 'bigint' ? value.toString() : value),
  isValid: (value) => typeof value === 'bigint' || Number.isSafeInteger(value),
  compare: (one, other) => (one < other ? -1 : one > other ? 1 : 0)
})
function longsExact (schema) {
  const plainLong = schema === 'long' || (schema && schema.type === 'long' && !schema.logicalType)
  return plainLong ? exactLong : undefined
}

// JSON.stringify cannot write a BigInt: it is written as a marked string, then the mark and quotes
// are taken off, leaving the number's digits. The mark holds a random part no text will hold.
const BIGINT_MARK = `bigint-${require('node:crypto').randomUUID()}:`

function json (value) {
  const text = JSON.stringify(value, (_, item) => (typeof item === 'bigint' ? `${BIGINT_MARK}${item}` : item))
  return text.replace(new RegExp(`"${BIGINT_MARK}(-?[0-9]+)"`, 'g'), '$1')
}

const HELP = `usage: node consume.js [options]   (each option also from the environment variable named)
  --bootstrap-servers HOST:PORT  KAFKA_BOOTSTRAP_SERVERS  default 127.0.0.1:9092
  --registry-url URL             REGISTRY_URL             default http://127.0.0.1:8000/schema-registry
  --topics a,b                   TOPICS                   topics to read; default: every topic under the prefix
  --topic-prefix P               TOPIC_PREFIX             default: none (every topic but Kafka's internal ones)
  --group-id ID                  GROUP_ID                 default: a new group, which reads from the start
  --max-records N                MAX_RECORDS              stop after printing N records
  --timeout SECONDS              TIMEOUT_SECONDS          stop after that long without a new record (default 30)`

const REGISTRY_TIMEOUT_MS = 10000
// A duplicate follows its original closely (a retried batch): a bounded window of ids is enough.
const SEEN_IDS = 100000

function options () {
  const { values } = parseArgs({
    options: {
      'bootstrap-servers': { type: 'string' },
      'registry-url': { type: 'string' },
      topics: { type: 'string' },
      'topic-prefix': { type: 'string' },
      'group-id': { type: 'string' },
      'max-records': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean' }
    }
  })
  if (values.help) {
    console.log(HELP)
    process.exit(0)
  }
  const env = process.env
  const pick = (name, variable, fallback) => values[name] || env[variable] || fallback
  return {
    brokers: pick('bootstrap-servers', 'KAFKA_BOOTSTRAP_SERVERS', '127.0.0.1:9092').split(','),
    registryUrl: pick('registry-url', 'REGISTRY_URL', 'http://127.0.0.1:8000/schema-registry').replace(/\/+$/, ''),
    topics: pick('topics', 'TOPICS', '').split(',').filter(Boolean),
    prefix: pick('topic-prefix', 'TOPIC_PREFIX', ''),
    groupId: pick('group-id', 'GROUP_ID', `consumer-example-${process.pid}-${Date.now()}`),
    maxRecords: Number(pick('max-records', 'MAX_RECORDS', 'Infinity')),
    timeoutMs: Number(pick('timeout', 'TIMEOUT_SECONDS', '30')) * 1000
  }
}

// A fixed(16) is a UUID (the catalogue's only fixed type, org.openstax.ec.uuid): its text form.
function uuidText (bytes) {
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

// A decoded value as plain JSON, walked along its avsc type: UUIDs as text, timestamps in ISO 8601,
// and a union of several records (xAPI's actor and object), which avsc wraps as
// {"org.adlnet.xapi.Group": {...}}, as the bare record, as other languages read it.
function plain (type, value) {
  if (value === null || value === undefined) return null
  switch (type.typeName) {
    case 'union:wrapped': {
      const [branch, inner] = Object.entries(value)[0]
      return plain(type.types.find((candidate) => candidate.branchName === branch), inner)
    }
    case 'union:unwrapped':
      return plain(type.types.find((candidate) => candidate.isValid(value)), value)
    case 'record':
      return Object.fromEntries(type.fields.map((field) => [field.name, plain(field.type, value[field.name])]))
    case 'array':
      return value.map((item) => plain(type.itemsType, item))
    case 'map':
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(type.valuesType, item)]))
    case 'fixed':
      return type.size === 16 ? uuidText(value) : value.toString('base64')
    case 'bytes':
      return value.toString('base64')
    case 'logical:timestamp-millis':
      return value.toISOString()
    default:
      return value
  }
}

function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function escapeRegExp (text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

async function main () {
  const opts = options()
  const registry = new SchemaRegistry(
    { host: opts.registryUrl },
    { [SchemaType.AVRO]: { logicalTypes: { 'timestamp-millis': TimestampMillis }, typeHook: longsExact } }
  )
  const kafka = new Kafka({
    clientId: 'eventcapture-consumer-example',
    brokers: opts.brokers,
    connectionTimeout: 10000,
    logLevel: logLevel.WARN,
    // stdout carries only the JSON lines.
    logCreator: () => ({ namespace, level, log }) => {
      process.stderr.write(`kafkajs ${namespace}: ${log.message}\n`)
    }
  })
  const consumer = kafka.consumer({ groupId: opts.groupId })
  const seen = new Set()
  let printed = 0
  let duplicates = 0
  let lastRecordAt = Date.now()
  let stopping = null

  const stop = () => {
    stopping = stopping || consumer.disconnect()
    return stopping
  }

  // consumer.run returns once the consumer is running; the run ends when something stops it.
  const ended = new Promise((resolve, reject) => {
    consumer.on(consumer.events.STOP, resolve)
    consumer.on(consumer.events.CRASH, ({ payload }) => { if (!payload.restart) reject(payload.error) })
  })
  await consumer.connect()
  const subscription = opts.topics.length
    ? { topics: opts.topics }
    : { topics: [new RegExp(opts.prefix ? `^${escapeRegExp(opts.prefix)}` : '^[^_]')] }
  await consumer.subscribe({ ...subscription, fromBeginning: true })

  const idle = setInterval(() => {
    if (Date.now() - lastRecordAt >= opts.timeoutMs) stop()
  }, 200)

  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (stopping || !isRunning() || isStale()) break
        lastRecordAt = Date.now()
        const headers = Object.fromEntries(
          Object.entries(message.headers || {}).map(([name, value]) => [name, value && value.toString('utf8')])
        )
        const eventId = headers.event_id
        if (eventId !== undefined && seen.has(eventId)) {
          duplicates += 1
          resolveOffset(message.offset)
          continue
        }
        if (eventId !== undefined) {
          seen.add(eventId)
          if (seen.size > SEEN_IDS) seen.delete(seen.values().next().value)
        }
        let value
        try {
          // Confluent's framing: byte 0, then the schema id (4 bytes, big-endian), then Avro.
          const decoded = await withTimeout(registry.decode(message.value), REGISTRY_TIMEOUT_MS, 'schema registry')
          value = plain(await registry.getSchema(message.value.readInt32BE(1)), decoded)
        } catch (error) {
          process.stderr.write(`cannot decode ${batch.topic}/${batch.partition}@${message.offset}: ${error.message}\n`)
          resolveOffset(message.offset)
          continue
        }
        process.stdout.write(json({
          topic: batch.topic,
          partition: batch.partition,
          offset: Number(message.offset),
          key: message.key && message.key.toString('utf8'),
          event_id: eventId ?? null,
          event_type: headers.event_type ?? null,
          value
        }) + '\n')
        // Resolved (and so committed) only once printed: at least once, as the producer.
        resolveOffset(message.offset)
        printed += 1
        if (printed >= opts.maxRecords) {
          stop()
          break
        }
      }
      await commitOffsetsIfNecessary()
      await heartbeat()
    }
  })

  await ended
  clearInterval(idle)
  await stop()
  process.stderr.write(JSON.stringify({ records: printed, duplicates_dropped: duplicates }) + '\n')
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`)
  process.exit(1)
})

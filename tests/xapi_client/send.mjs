// Sends xAPI statements to the service with @xapi/xapi, a standard xAPI client library, as a
// course or page would, and prints what the library got back as one JSON object on stdout.
// Usage: node send.mjs <xAPI endpoint, e.g. http://127.0.0.1:8000/api/v0/xapi/>
// Run by tests/test_xapi_client.py; `make install` (npm ci) installs the pinned library.
import XAPI from "@xapi/xapi";

const endpoint = process.argv[2];
if (!endpoint) {
  console.error("usage: node send.mjs <xAPI endpoint>");
  process.exit(2);
}
const xapi = new XAPI({ endpoint });

const actor = { name: "Ada", mbox: "mailto:ada@example.edu" }; // no objectType: an Agent
const verb = XAPI.Verbs.COMPLETED;
const activity = {
  objectType: "Activity",
  id: "https://openstax.org/books/college-physics-2e/pages/1-introduction",
  definition: { name: { "en-US": "Introduction" } },
};
const ownId = process.argv[3] ?? "9b2f5c1e-3d4a-4e8b-a6c7-1f0e2d3c4b5a";
const putId = process.argv[4] ?? "5e1d9c0b-7a6f-4b3e-8d2c-0a9b8c7d6e5f";

const versionOf = (response) => response.headers["x-experience-api-version"] ?? null;

try {
  // One statement without an id: the LRS assigns it.
  const single = await xapi.sendStatement({ statement: { actor, verb, object: activity } });
  // A batch: one whose object has no objectType (an Activity), one with its own id.
  const { objectType, ...untyped } = activity;
  const batch = await xapi.sendStatements({
    statements: [
      { actor, verb, object: untyped },
      { id: ownId, actor, verb, object: activity },
    ],
  });
  // PUT statements?statementId=…, through the library's own request path (it has no helper for it).
  const put = await xapi.requestResource({
    resource: "statements",
    queryParams: { statementId: putId },
    requestConfig: { method: "PUT", data: { actor, verb, object: activity } },
  });
  const result = {
    without_id: single.data[0],
    without_object_type: batch.data[0],
    own_id: batch.data[1],
    sent_own_id: ownId,
    put_status: put.status,
    put_id: putId,
    statuses: [single.status, batch.status],
    versions: [versionOf(single), versionOf(batch), versionOf(put)],
  };
  console.log(JSON.stringify(result));
} catch (error) {
  const response = error.response;
  console.error(
    response ? `HTTP ${response.status}: ${JSON.stringify(response.data)}` : String(error && error.message),
  );
  process.exit(1);
}

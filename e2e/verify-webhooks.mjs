// Verifies webhook deliveries with the npm standardwebhooks package, as a
// customer's receiver would. Used by the Go tests (internal/webhooktest).
//
//   node verify-webhooks.mjs deliveries.json
//
// deliveries.json is an array of {"secrets": [...], "headers": {...},
// "body": "..."}; a delivery verifies if any of the secrets verifies it.
// Prints an array of {"ok": bool, "error": string, "type": string} in the
// same order. The timestamp tolerance (5 minutes) is the library's own.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const deliveries = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = deliveries.map((d) => {
  let lastError = "no secrets";
  for (const secret of d.secrets) {
    try {
      const payload = new Webhook(secret).verify(d.body, d.headers);
      return { ok: true, error: "", type: payload.type };
    } catch (e) {
      lastError = String(e && e.message ? e.message : e);
    }
  }
  return { ok: false, error: lastError, type: "" };
});
process.stdout.write(JSON.stringify(results));

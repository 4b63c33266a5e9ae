// Validates Kubernetes objects (multi-document YAML, e.g. `kubectl kustomize` output) against the
// Kubernetes OpenAPI schemas shipped by kubernetes-models: each object is mapped by apiVersion/kind
// to its model class and checked with .validate(). Unknown apiVersions or kinds fail too.
// Note: those schemas do not reject unknown (e.g. misspelled) fields; types, enums, required
// fields and formats are checked.
//   node validate.mjs FILE... | -      (exit 1 if any object is invalid or nothing was read)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const inputs = process.argv.slice(2);
if (inputs.length === 0) inputs.push("-");

let passed = 0;
let failed = 0;
const modules = new Map();

async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string")
    throw new Error("missing apiVersion or kind");
  if (!modules.has(apiVersion)) {
    try {
      modules.set(apiVersion, await import(`kubernetes-models/${apiVersion}`));
    } catch {
      modules.set(apiVersion, null);
    }
  }
  const mod = modules.get(apiVersion);
  if (!mod) throw new Error(`unknown apiVersion ${apiVersion}`);
  const cls = mod[kind];
  // Only top-level resources carry static apiVersion/kind (DeploymentSpec etc. do not).
  if (typeof cls !== "function" || cls.kind !== kind || cls.apiVersion !== apiVersion)
    throw new Error(`unknown kind ${kind} in ${apiVersion}`);
  return cls;
}

for (const input of inputs) {
  const text = readFileSync(input === "-" ? 0 : input, "utf8");
  const source = input === "-" ? "stdin" : input;
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      failed++;
      console.log(`FAIL ${source}: YAML error: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue; // empty document
    const name = `${obj.apiVersion ?? "?"} ${obj.kind ?? "?"} ${obj.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata?.name ?? "?"}`;
    try {
      const Cls = await modelClass(obj.apiVersion, obj.kind);
      new Cls(obj).validate();
      passed++;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${source}): ${e.message}`);
    }
  }
}

console.log(`${passed} objects valid, ${failed} invalid`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);

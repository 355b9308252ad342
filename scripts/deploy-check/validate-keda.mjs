// Validates the KEDA objects (ScaledObject, TriggerAuthentication) of the YAML files given
// against the schemas generated from KEDA's CRDs (@kubernetes-models/keda); exit 1 on any error.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";

const models = { ScaledObject, TriggerAuthentication };
let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = doc.toJS();
    const Model = object.apiVersion === "keda.sh/v1alpha1" ? models[object.kind] : undefined;
    if (!Model) {
      console.error(`${file}: ${object.apiVersion} ${object.kind} is not a KEDA object this check knows`);
      failed++;
      continue;
    }
    try {
      new Model(object).validate();
      console.log(`${file}: ${object.kind} ${object.metadata.name}: valid`);
    } catch (e) {
      console.error(`${file}: ${object.kind} ${object.metadata?.name}: ${e.message}`);
      failed++;
    }
  }
}
process.exit(failed ? 1 : 0);

// Runs the Khronos glTF validator (npm gltf-validator) on one .glb, or on
// the GLB inlined in a share page (.html), and prints its report's summary
// as JSON: {errors, warnings, messages}.
// Usage: NODE_PATH=<node_modules> node validate_gltf.js FILE.glb|PAGE.html
const fs = require("fs");
const validator = require("gltf-validator");

const file = process.argv[2];
let bytes = fs.readFileSync(file);
if (file.endsWith(".html")) {
  const b64 = bytes.toString("utf8").split("data:model/gltf-binary;base64,")[1].split('"')[0];
  bytes = Buffer.from(b64, "base64");
}
validator
  .validateBytes(new Uint8Array(bytes), { maxIssues: 50 })
  .then((report) => {
    const issues = report.issues;
    console.log(
      JSON.stringify({
        errors: issues.numErrors,
        warnings: issues.numWarnings,
        messages: issues.messages.map((m) => `${m.severity} ${m.code} ${m.pointer || ""}: ${m.message}`),
      })
    );
  })
  .catch((e) => {
    console.error(`validator failed: ${e}`);
    process.exit(2);
  });

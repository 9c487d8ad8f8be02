// Runs the Khronos glTF validator (npm gltf-validator) on one .glb and
// prints its report's summary as JSON: {errors, warnings, messages}.
// Usage: NODE_PATH=<node_modules> node validate_gltf.js FILE.glb
const fs = require("fs");
const validator = require("gltf-validator");

const file = process.argv[2];
validator
  .validateBytes(new Uint8Array(fs.readFileSync(file)), { maxIssues: 50 })
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

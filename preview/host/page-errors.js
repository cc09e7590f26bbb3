/**
 * What goes wrong in a host page, collected so that the page can show it and a browser test can
 * check it: uncaught errors, unhandled rejections, and render errors caught by an error boundary
 * around the plugin.
 */
/* global window -- browser */
import * as React from 'react';

/** Records the page's uncaught errors and rejections into `errors`. */
export function collectPageErrors(errors) {
  window.addEventListener('error', (e) => errors.push(`error: ${e.message}`));
  window.addEventListener('unhandledrejection', (e) => errors.push(`unhandled rejection: ${e.reason?.message ?? String(e.reason)}`));
}

/** An error boundary that shows a render error and records it into `errors`. */
export function errorBoundary(errors) {
  return class ErrorBoundary extends React.Component {
    constructor(props) {
      super(props);
      this.state = { error: undefined };
    }
    static getDerivedStateFromError(error) {
      return { error };
    }
    componentDidCatch(error) {
      errors.push(`render: ${error?.stack ?? error}`);
    }
    render() {
      return this.state.error ? React.createElement('pre', { role: 'alert', 'data-testid': 'harness-render-error' }, String(this.state.error)) : this.props.children;
    }
  };
}

import React from 'react';
import { Icon, IconButton, Input } from '@grafana/ui';

import { Styles } from './styles';

interface Props {
  search: string;
  onSearch: (text: string) => void;
  /** Enter in the search box: show the matches. */
  onSubmit: () => void;
  onZoomIn: () => void;
  onZoomOut: () => void;
  onFit: () => void;
  summary: string;
  classes: Styles;
}

/** Search, zoom and fit, and what the map shows. */
export function MapToolbar({ search, onSearch, onSubmit, onZoomIn, onZoomOut, onFit, summary, classes }: Props) {
  return (
    <div className={classes.toolbar} data-testid="servicemap-toolbar">
      <div className={classes.search}>
        <Input
          prefix={<Icon name="search" />}
          placeholder="Find a node"
          aria-label="find a node"
          value={search}
          onChange={(e) => onSearch(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              onSubmit();
            } else if (e.key === 'Escape') {
              onSearch('');
            }
          }}
        />
      </div>
      <IconButton name="search-plus" tooltip="Zoom in" onClick={onZoomIn} />
      <IconButton name="search-minus" tooltip="Zoom out" onClick={onZoomOut} />
      <IconButton name="capture" tooltip="Fit the map" onClick={onFit} />
      <span className={classes.summary} data-testid="servicemap-summary">
        {summary}
      </span>
    </div>
  );
}

import React from 'react';
import { LinkModel } from '@grafana/data';
import { ContextMenu, MenuGroup, MenuItem } from '@grafana/ui';

import { Styles } from './styles';

interface Props {
  title: string;
  links: LinkModel[];
  /** Viewport position of the click. */
  x: number;
  y: number;
  onClose: () => void;
  classes: Styles;
}

/** The data links of a clicked node or edge (Grafana's context menu). */
export function LinksMenu({ title, links, x, y, onClose, classes }: Props) {
  return (
    <ContextMenu
      x={x}
      y={y}
      onClose={onClose}
      focusOnOpen={false}
      renderHeader={() => (
        <div className={classes.menuHeader} data-testid="servicemap-menu-header">
          {title}
        </div>
      )}
      renderMenuItems={() => (
        <MenuGroup label="Links">
          {links.length === 0 ? (
            <MenuItem label="No links" disabled />
          ) : (
            links.map((link, i) => (
              <MenuItem
                key={`${i}-${link.title}`}
                label={link.title}
                url={link.href}
                target={link.target}
                icon={link.href.includes('/explore') ? 'compass' : link.href.includes('/d/') ? 'apps' : 'external-link-alt'}
                testId="servicemap-link"
                onClick={
                  link.onClick
                    ? (event: React.MouseEvent<HTMLElement>) => {
                        link.onClick?.(event);
                        onClose();
                      }
                    : onClose
                }
              />
            ))
          )}
        </MenuGroup>
      )}
    />
  );
}

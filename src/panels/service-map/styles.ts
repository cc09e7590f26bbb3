import { css } from '@emotion/css';
import { GrafanaTheme2 } from '@grafana/data';

export const TOOLBAR_HEIGHT = 32;

export function getStyles(theme: GrafanaTheme2) {
  return {
    root: css({
      position: 'relative',
      overflow: 'hidden',
      display: 'flex',
      flexDirection: 'column',
    }),
    toolbar: css({
      display: 'flex',
      alignItems: 'center',
      gap: theme.spacing(0.5),
      height: TOOLBAR_HEIGHT,
      flex: '0 0 auto',
    }),
    search: css({
      maxWidth: 240,
    }),
    summary: css({
      marginLeft: 'auto',
      color: theme.colors.text.secondary,
      fontSize: theme.typography.bodySmall.fontSize,
      whiteSpace: 'nowrap',
      overflow: 'hidden',
      textOverflow: 'ellipsis',
    }),
    svg: css({
      display: 'block',
      cursor: 'grab',
      userSelect: 'none',
      touchAction: 'none',
      '&:active': { cursor: 'grabbing' },
    }),
    node: css({
      cursor: 'pointer',
    }),
    edge: css({
      cursor: 'pointer',
    }),
    dimmed: css({
      opacity: 0.15,
    }),
    label: css({
      fontFamily: theme.typography.fontFamily,
      fontSize: 11,
      pointerEvents: 'none',
    }),
    labelStat: css({
      fontFamily: theme.typography.fontFamily,
      fontSize: 10,
      pointerEvents: 'none',
    }),
    message: css({
      display: 'flex',
      alignItems: 'center',
      justifyContent: 'center',
      height: '100%',
      color: theme.colors.text.secondary,
      textAlign: 'center',
      padding: theme.spacing(2),
    }),
    tooltip: css({
      position: 'absolute',
      pointerEvents: 'none',
      zIndex: theme.zIndex.tooltip,
      background: theme.colors.background.elevated,
      color: theme.colors.text.primary,
      border: `1px solid ${theme.colors.border.weak}`,
      borderRadius: theme.shape.radius.default,
      boxShadow: theme.shadows.z2,
      padding: theme.spacing(1),
      fontSize: theme.typography.bodySmall.fontSize,
      maxWidth: 360,
    }),
    tooltipTitle: css({
      fontWeight: theme.typography.fontWeightMedium,
      wordBreak: 'break-all',
    }),
    tooltipSubtitle: css({
      color: theme.colors.text.secondary,
      marginBottom: theme.spacing(0.5),
    }),
    tooltipTable: css({
      borderCollapse: 'collapse',
      'td, th': { padding: '1px 0', verticalAlign: 'top' },
      th: { fontWeight: 'normal', color: theme.colors.text.secondary, textAlign: 'left', paddingRight: theme.spacing(2) },
      td: { textAlign: 'right', whiteSpace: 'nowrap' },
    }),
    menuHeader: css({
      padding: theme.spacing(0.5, 1),
      fontSize: theme.typography.bodySmall.fontSize,
      color: theme.colors.text.secondary,
      maxWidth: 320,
      wordBreak: 'break-all',
    }),
  };
}

export type Styles = ReturnType<typeof getStyles>;
